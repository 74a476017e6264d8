"""infra.6's reading of the audit history: did the serving champion come through a canary?

A recorded `canary-pass` counts only when the canary compared the version with the champion
its promotion replaced, and when the figures it recorded (`keel canary status --decide` stores
the whole `keel.serve.canary.CanaryReport`) still hold under today's `[canary]` limits: a
limit loosened for one promotion, then tightened, does not leave a pass behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from keel.evidence import Evidence, Table
from keel.registry.audit import Event

PROMOTIONS = ("promote", "force-promote")
CANARY_KINDS = ("canary-start", "canary-pass", "canary-abort")


def promotion_of(events: list[Event], version: int) -> Event | None:
    """The newest event that promoted `version` (events newest first)."""
    return next((e for e in events if e.kind in PROMOTIONS and e.version == version), None)


def canary_before(events: list[Event], version: int, seq: int) -> Event | None:
    """The newest canary event of `version` recorded before the event numbered `seq`."""
    return next(
        (e for e in events if e.kind in CANARY_KINDS and e.version == version and e.seq < seq),
        None,
    )


def _figure(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:.4g}{unit}" if isinstance(value, float) else f"{value}{unit}"


# Which `[canary]` key limits a recorded comparison, found by words of its name (the names
# are `keel.serve.canary`'s: "error rate increase", "p99 latency ratio", "prediction
# distribution distance", "<metric> drop on labelled rows").
LIMIT_WORDS = (
    ("error rate", "max_error_rate_increase"),
    ("latency", "max_p99_ratio"),
    ("distribution", "max_prediction_distance"),
    ("drop", "max_quality_drop"),
)


@dataclass
class Rejudged:
    """One recorded comparison judged again: the figure then, the limit then and now."""

    name: str
    value: float | None
    limit_then: float | None
    key: str | None  # the [canary] key that limits it today; None: no key known
    limit_now: float | None
    ok: bool

    def row(self) -> list[Any]:
        result = "held" if self.ok else "failed"
        if self.key is None:
            result += " (as recorded: no [canary] limit for it)"
        return [self.name, _figure(self.value), _figure(self.limit_then), _figure(self.limit_now),
                result]  # fmt: skip


def limit_key(name: str) -> str | None:
    """The `[canary]` key that limits the comparison named `name`, or None."""
    lowered = name.lower()
    return next((key for words, key in LIMIT_WORDS if words in lowered), None)


def _recorded_key(recorded: Any, limits: Any) -> str | None:
    """The `[canary]` key a comparison's recorded `key` names (`quality_drop` is limited by
    `max_quality_drop`), or None."""
    if not recorded:
        return None
    for key in (str(recorded), f"max_{recorded}"):
        if hasattr(limits, key):
            return key
    return None


def rejudge(verdict: dict[str, Any], limits: Any) -> list[Rejudged]:
    """Each recorded comparison of `verdict` against today's `limits` (`[canary]`): a figure
    at or under its limit now holds; a missing figure does not. The limit is the `[canary]`
    key the comparison records (`key`), else the one its name points to (`limit_key`); a
    comparison no key limits keeps its recorded result."""
    found = []
    for c in verdict.get("comparisons") or []:
        name = str(c.get("name", "?"))
        value = c.get("value")
        # the figure that was held to the limit: the measured value, or for a comparison
        # measured with noise (quality on labels) the recorded bound at the canary's confidence
        held = c.get("bound") if isinstance(c.get("bound"), int | float) else value
        key = _recorded_key(c.get("key"), limits) or limit_key(name)
        now = None if key is None else float(getattr(limits, key))
        if key is None:
            ok = bool(c.get("ok"))
        else:
            ok = (
                isinstance(held, int | float)
                and math.isfinite(held)
                and held <= now
                and not c.get("undecided", False)
            )
        found.append(Rejudged(name, value, c.get("limit"), key, now, ok))
    return found


def canary_table(event: Event, judged: list[Rejudged]) -> Table:
    """The comparisons the canary was decided on, judged again under today's limits."""
    return Table(
        f"Canary of version {event.version} ({event.kind}, {event.when}), judged again under "
        "today's [canary] limits",
        ["comparison", "measured", "limit then", "limit now", "result now"],
        [j.row() for j in judged],
    )


def _short(verdict: dict[str, Any], limits: Any) -> list[str]:
    """What the recorded canary lacked by today's `[canary]` window and min_requests."""
    found = []
    elapsed = verdict.get("elapsed_seconds")
    if not isinstance(elapsed, int | float) or elapsed < limits.window:
        took = "an unrecorded time" if elapsed is None else f"{float(elapsed):.0f} s"
        found.append(f"it ran {took}, under [canary] window = {limits.window:g} s")
    for route in ("champion", "candidate"):
        rows = (verdict.get(route) or {}).get("rows")
        if not isinstance(rows, int) or rows < limits.min_requests:
            served = "an unrecorded number of" if rows is None else rows
            found.append(
                f"the {route} route served {served} rows, under [canary] min_requests = "
                f"{limits.min_requests}"
            )
    return found


def route_summary(verdict: dict[str, Any]) -> str:
    """'1,204 rows on the candidate and 10,877 on the champion over 600 s'."""
    candidate, champion = verdict.get("candidate") or {}, verdict.get("champion") or {}
    return (
        f"{candidate.get('rows', 0):,} rows on the candidate and {champion.get('rows', 0):,} on "
        f"the champion over {verdict.get('elapsed_seconds', 0):.0f} s"
    )


HINT = (
    "Put each new version through a canary: `keel canary start VERSION --share 0.1` while "
    "`keel serve` runs, then `keel canary status --decide` after [canary] window."
)


def judge_canary_history(events: list[Event], version: int, limits: Any) -> Evidence:
    """infra.6's verdict on the serving `version` from the audit history (newest first): the
    newest canary before its promotion passed, compared it with the champion it replaced, and
    its recorded figures still hold under today's `limits` (`[canary]`)."""
    promoted = promotion_of(events, version)
    facts: dict[str, Any] = {"champion": version}
    thresholds = {k: getattr(limits, k) for _, k in LIMIT_WORDS}
    thresholds |= {"window": limits.window, "min_requests": limits.min_requests}

    def fail(summary: str, tables: list[Table] | None = None) -> Evidence:
        return Evidence(
            "infra.6", "fail", summary, HINT, tables or [], thresholds=thresholds, facts=facts
        )

    if promoted is None:
        return fail(
            f"version {version} serves without a recorded promotion, so no canary preceded it"
        )
    canary = canary_before(events, version, promoted.seq)
    if canary is None:
        why = (
            " (it was the first champion: there was nothing to canary it against, so the next "
            "version is the one to canary)"
            if promoted.previous is None
            else ""
        )
        return fail(f"version {version} was promoted on {promoted.when[:10]} without a canary{why}")
    verdict = canary.verdict or {}
    judged = rejudge(verdict, limits)
    tables = [canary_table(canary, judged)] if judged else []
    against = (verdict.get("canary") or {}).get("champion", canary.previous)
    facts |= {"canary": canary.kind, "canary_when": canary.when, "compared_with": against}
    if canary.kind != "canary-pass":
        said = "was still running" if canary.kind == "canary-start" else "was aborted"
        return fail(
            f"version {version} was promoted while its canary {said}: it did not come through "
            "a successful canary",
            tables,
        )
    if against != promoted.previous:
        return fail(
            f"version {version}'s canary compared it with version {against}, but its promotion "
            f"replaced version {promoted.previous}: it was never compared with the champion it "
            "replaced",
            tables,
        )
    if not judged:
        return fail(
            f"version {version}'s canary passed, but its record holds no comparison to judge "
            "again under today's [canary] limits",
            tables,
        )
    failed = [j for j in judged if not j.ok]
    short = _short(verdict, limits)
    facts |= {"comparisons": len(judged), "failed_now": len(failed)}
    if failed or short:
        why = [
            f"{j.name} {_figure(j.value)} over today's limit {_figure(j.limit_now)} "
            f"([canary] {j.key}; {_figure(j.limit_then)} then)"
            if j.key is not None
            else f"{j.name} failed"
            for j in failed
        ]
        return fail(
            f"version {version}'s canary passed under the limits of its day, but not under "
            f"today's: {'; '.join(why + short)}",
            tables,
        )
    held = ", ".join(
        f"{j.name} {_figure(j.value)} (limit {_figure(j.limit_now)})"
        for j in judged
        if j.value is not None
    )
    return Evidence(
        "infra.6",
        "pass",
        f"version {version} passed a canary against version {against}, the champion it "
        f"replaced, before its promotion: {route_summary(verdict)}; under today's [canary] "
        f"limits {held}",
        tables=tables,
        thresholds=thresholds,
        facts=facts,
    )
