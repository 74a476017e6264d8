"""infra.6's reading of the audit history: did the serving champion come through a canary?"""

from __future__ import annotations

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


def canary_table(event: Event) -> Table:
    """The comparisons the canary was decided on."""
    verdict = event.verdict or {}
    rows = [
        [
            c["name"],
            _figure(c.get("value")),
            _figure(c.get("limit")),
            "held" if c["ok"] else "failed",
        ]
        for c in verdict.get("comparisons") or []
    ]
    return Table(
        f"Canary of version {event.version} ({event.kind}, {event.when})",
        ["comparison", "measured", "limit", "result"],
        rows,
    )


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


def judge_canary_history(events: list[Event], version: int) -> Evidence:
    """infra.6's verdict on the serving `version` from the audit history (newest first)."""
    promoted = promotion_of(events, version)
    facts: dict[str, Any] = {"champion": version}

    def fail(summary: str, tables: list[Table] | None = None) -> Evidence:
        return Evidence("infra.6", "fail", summary, HINT, tables or [], facts=facts)

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
    facts |= {"canary": canary.kind, "canary_when": canary.when}
    if canary.kind != "canary-pass":
        said = "was still running" if canary.kind == "canary-start" else "was aborted"
        return fail(
            f"version {version} was promoted while its canary {said}: it did not come through "
            "a successful canary",
            [canary_table(canary)] if verdict.get("comparisons") else [],
        )
    held = ", ".join(
        f"{c['name']} {c['value']:.3g} (limit {c['limit']:g})"
        for c in verdict.get("comparisons") or []
        if c.get("value") is not None
    )
    return Evidence(
        "infra.6",
        "pass",
        f"version {version} passed a canary against version {canary.previous} before its "
        f"promotion: {route_summary(verdict)}; {held}",
        tables=[canary_table(canary)],
        facts=facts,
    )
