"""The gate: the rules a version must meet to serve, and its verdict.

Absolute floors (`[gate] min`) and the largest allowed drop against the current champion
(`[gate] max_regression`), on metrics oriented so that higher is better. With no champion the
regression limits are skipped, and the verdict says so. `GateInputs` is what the caller gives
the gate to judge with (`keel.training.gate_inputs` builds it from a System): the evaluation
rows as a server would get them, their labels, and the rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GateInputs", "Verdict", "judge"]


@dataclass(frozen=True)
class GateInputs:
    """What a version is judged on: raw evaluation rows (`frame`), their `target`, the
    primary metric, and the gate's `floors` and `max_regression` limits by metric name."""

    frame: pd.DataFrame
    target: Any
    primary: str
    floors: Mapping[str, float]
    max_regression: Mapping[str, float]

    @property
    def metrics(self) -> list[str]:
        """The metrics to measure: the primary one, then every one a rule reads."""
        return list(dict.fromkeys([self.primary, *self.floors, *self.max_regression]))

    @property
    def thresholds(self) -> dict[str, dict[str, float]]:
        """The rules as recorded with a verdict."""
        return {"min": dict(self.floors), "max_regression": dict(self.max_regression)}


@dataclass
class Verdict:
    """The gate's judgement of one version, as recorded on it.

    `passed` is the gate's own answer; `promoted` is whether the version became the champion
    (a forced promotion is promoted without passing, and records `reason`).
    """

    version: int
    passed: bool
    promoted: bool
    metrics: dict[str, float]
    champion: int | None
    champion_metrics: dict[str, float]
    thresholds: dict[str, dict[str, float]]
    failures: list[str]
    notes: list[str]
    who: str
    when: str
    forced: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready plain data (an undefined metric becomes None)."""
        data = asdict(self)
        for key in ("metrics", "champion_metrics"):
            data[key] = {k: None if math.isnan(v) else v for k, v in data[key].items()}
        return data


def judge(
    metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    *,
    floors: Mapping[str, float],
    max_regression: Mapping[str, float],
    champion: int | None,
) -> tuple[list[str], list[str]]:
    """The gate's failures and notes for a candidate's metrics (higher is better).

    `champion_metrics` is None when there is no champion: the regression limits are then
    skipped with a note. An undefined metric (NaN) fails every rule that reads it.
    """
    failures, notes = [], []
    for name, floor in floors.items():
        value = metrics.get(name, math.nan)
        if math.isnan(value):
            failures.append(f"{name} is undefined on the evaluation data ([gate] min)")
        elif value < floor:
            failures.append(f"{name} {value:.4f} is below the floor {floor:g} ([gate] min)")
    if champion_metrics is None:
        if max_regression:
            notes.append("no champion yet: the regression limits were not applied")
        return failures, notes
    for name, drop in max_regression.items():
        value, before = metrics.get(name, math.nan), champion_metrics.get(name, math.nan)
        if math.isnan(value) or math.isnan(before):
            failures.append(f"{name} is undefined for this version or the champion")
        elif before - value > drop + 1e-12:
            failures.append(
                f"{name} {value:.4f} is {before - value:.4f} below the champion's {before:.4f} "
                f"(version {champion}); at most {drop:g} is allowed ([gate] max_regression)"
            )
    return failures, notes
