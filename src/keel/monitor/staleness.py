"""monitor.4: models are not too stale: the serving version's training-data age against the
limit model.4 stored with it (`judge_staleness`, the whole judgement).

The age is now − the newest training timestamp the version's lineage recorded; the limit is
`staleness_limit_days`, recorded by `keel train --staleness-limit` (model.4). The evidence also
shows how old each training source's newest row is now, read again, so a team sees whether
retraining on the sources would help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from keel.evidence import BarChart, Evidence, Table, not_configured
from keel.monitor.gates import no_champion

if TYPE_CHECKING:
    from keel.registry.versions import ModelVersion

__all__ = ["StalenessInputs", "age_days", "judge_staleness"]

COMMAND = "`keel train --staleness-limit`, then `keel promote VERSION`"


def age_days(newest: str, now: datetime) -> float:
    """Days from `newest` (ISO 8601; a time without a zone is UTC) to `now` (aware)."""
    stamp = pd.Timestamp(newest)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return (pd.Timestamp(now) - stamp).total_seconds() / 86_400


@dataclass(frozen=True)
class StalenessInputs:
    """What monitor.4 judges. `timestamp` is `[system] timestamp` (None: ages are unknown);
    `champion` reads the serving version (None when nothing serves); `source_ages(now)` reads
    each training source's newest row again and gives its age in days (None when unknown);
    `max_drop` and `period_days` are `[staleness]`'s, shown with the stored limit. The
    readings are called only past the gates that need them."""

    timestamp: str | None
    champion: Callable[[], ModelVersion | None]
    source_ages: Callable[[datetime], list[tuple[str, float | None]]]
    now: datetime
    max_drop: float
    period_days: float


def judge_staleness(inputs: StalenessInputs) -> Evidence:
    """monitor.4: the serving version's training-data age (now − its newest training
    timestamp) against the limit model.4 stored with it; the sources' newest rows now too."""
    if not inputs.timestamp:
        return not_configured(
            "monitor.4",
            "no [system] timestamp: the age of the data a model learnt from is unknown",
            'Name the timestamp column (`[system] timestamp = "…"` in keel.toml), then '
            "`keel train --staleness-limit` and `keel promote VERSION`.",
        )
    version = inputs.champion()
    if version is None:
        return no_champion("monitor.4", "no model's age can be measured")
    limit = version.lineage.get("staleness_limit_days")
    train = (version.lineage.get("data") or {}).get("train") or {}
    newest = train.get("newest")
    if limit is None:
        return not_configured(
            "monitor.4",
            f"version {version.version} was registered without model.4's staleness limit",
            f"Register a version with its limit: {COMMAND}.",
        )
    if newest is None:
        return not_configured(
            "monitor.4",
            f"version {version.version}'s lineage holds no newest training timestamp",
            f"Register it again (the lineage now records it): {COMMAND}.",
        )
    age = age_days(newest, inputs.now)
    ages = inputs.source_ages(inputs.now)
    labels = [f"version {version.version}'s training data"]
    labels += [f"{split} source's newest row now" for split, a in ages if a is not None]
    values = [age] + [a for _, a in ages if a is not None]
    figure = BarChart(
        "Data age (days) against model.4's limit",
        labels,
        values,
        x_label="days",
        reference={"limit": float(limit)},
        flagged=[v > limit for v in values[:1]] + [False] * (len(values) - 1),
    )
    rows = [["newest training timestamp", newest], ["age (days)", f"{age:.1f}"]]
    rows += [
        [f"{s} source's newest row now (days old)", "—" if a is None else f"{a:.1f}"]
        for s, a in ages
    ]
    table = Table(f"Staleness of version {version.version}", ["measure", "value"], rows)
    facts = {"champion": version.version, "age_days": round(age, 2), "newest": newest}
    facts |= {f"{s}_source_age_days": None if a is None else round(a, 2) for s, a in ages}
    thresholds = {  # what the stored limit means ([staleness] as configured now)
        "staleness_limit_days": limit,
        "max_drop": inputs.max_drop,
        "period_days": inputs.period_days,
    }
    stale = age > limit
    return Evidence(
        "monitor.4",
        "fail" if stale else "pass",
        f"version {version.version} learnt from data {age:.1f} days old, "
        f"{'over' if stale else 'within'} model.4's limit of {limit:g} days",
        hint=f"Retrain on recent data and promote it: {COMMAND}." if stale else "",
        tables=[table],
        figures=[figure],
        thresholds=thresholds,
        facts=facts,
    )
