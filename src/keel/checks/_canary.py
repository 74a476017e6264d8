"""infra.6's reading of the audit history: did the serving champion come through a canary?"""

from __future__ import annotations

from typing import Any

from keel.evidence import Table
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
