"""infra.7's wording: what a recorded rollback drill showed, its age, and the table of drills.

Only a drill of the champion now counts: one that rolled back from it, recorded after the
promotion (or rollback) that made it champion.

A drill is a `drill` event of the registry's audit history (`keel.registry.drill`): `previous`
is the champion it rolled back from, `version` the earlier champion it rolled back to, and
`verdict` the measurements of `keel.serve.drill.DrillResult.to_dict`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from keel.evidence import Table

RECENT = 10  # drills shown in the evidence
HINT = (
    "Rehearse it: `keel drill rollback` starts a server, drives load, rolls back, measures, "
    "restores the champion through the gate and records the result (`--url URL` drills a "
    "running server)."
)


def age_days(when: str, now: dt.datetime | None = None) -> float | None:
    """Days from an ISO 8601 time to `now` (UTC); None when the time cannot be read."""
    try:
        then = dt.datetime.fromisoformat(when)
    except (TypeError, ValueError):
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return ((now or dt.datetime.now(dt.UTC)) - then).total_seconds() / 86400


def problems(result: dict[str, Any], max_seconds: float) -> list[str]:
    """Why a drill's result does not count as a success (empty when it does): failed
    requests, a switch that never completed or took over `max_seconds`, another version
    answering after the switch, a champion not restored."""
    found = []
    failed = int(result.get("failed") or 0)
    if failed:
        errors = result.get("errors") or []
        detail = f" ({'; '.join(str(e) for e in errors[:3])})" if errors else ""
        found.append(f"{failed} of {result.get('requests', '?')} requests failed{detail}")
    switch = result.get("switch_seconds")
    if not result.get("settled", True):
        found.append(
            f"version {result.get('to_version')} never alone answered every client within "
            f"{2 * float(result.get('max_seconds') or max_seconds):g} s"
        )
    elif switch is None or float(switch) > max_seconds:
        found.append(f"the switch took {seconds(switch)} (limit {max_seconds:g} s)")
    unnamed = int(result.get("unnamed") or 0)
    if unnamed:
        found.append(f"{unnamed} answer(s) did not name the version that made them")
    stray = int(result.get("stray") or 0)
    if stray:
        found.append(f"{stray} answer(s) after the switch came from another version")
    if result.get("agreed") is False:
        found.append(
            f"at its end the registry named version {result.get('champion')} champion but the "
            f"server served version {result.get('server_champion')}"
        )
    if not result.get("restored"):
        reason = result.get("restore_reason") or "no reason recorded"
        found.append(f"the champion was not restored: {reason}")
    else:
        found += _restore_problems(result, max_seconds)
    return found


def _restore_problems(result: dict[str, Any], max_seconds: float) -> list[str]:
    """Why the restore phase (the earlier champion back to the drilled one) does not count:
    it never settled, or its switch was not measured or took over `max_seconds`."""
    phases = [p for p in result.get("phases") or [] if p.get("name") == "restore"]
    switch = result.get("restore_switch_seconds")
    back = f"version {result.get('from_version')}"
    if phases and not phases[0].get("settled", False):
        return [f"after the restore, {back} never alone answered every client"]
    if switch is None or float(switch) > max_seconds:
        return [f"the restore's switch to {back} took {seconds(switch)} (limit {max_seconds:g} s)"]
    return []


BECOMES_CHAMPION = ("promote", "force-promote", "rollback")


def champion_since(events: list[Any], champion: int) -> Any | None:
    """The newest event (events newest first) that made `champion` the champion: its
    promotion, or a rollback to it. None when no recorded event did (an alias set by hand)."""
    return next((e for e in events if e.kind in BECOMES_CHAMPION and e.version == champion), None)


def drills_of(events: list[Any], champion: int) -> list[Any]:
    """The drills (newest first) that count for `champion`: recorded after the event that
    made it champion, and rolling back from it. A drill of another champion, or one older
    than this champion's promotion, says nothing about how this one rolls back."""
    since = champion_since(events, champion)
    return [
        e
        for e in events
        if e.kind == "drill" and e.previous == champion and (since is None or e.seq > since.seq)
    ]


def none_of_this_champion(events: list[Any], champion: int) -> str:
    """Why no recorded drill counts for `champion` (some drills are recorded)."""
    newest = next(e for e in events if e.kind == "drill")
    since = champion_since(events, champion)
    became = "" if since is None else f" since it became champion ({since.kind}, {since.when})"
    if newest.previous != champion:
        what = f"concerned another champion (version {newest.previous} → {newest.version})"
    else:
        what = "is older than that"
    return (
        f"no rollback drill of version {champion}, the champion now, is recorded{became}: the "
        f"newest drill ({newest.when}) {what}"
    )


def seconds(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f} s"


def drills_table(events: list[Any], now: dt.datetime | None = None) -> Table:
    """The recent drills, newest first: when, from → to, switch time, requests, failed,
    restored."""
    rows = []
    for event in events[:RECENT]:
        result = event.verdict or {}
        age = age_days(event.when, now)
        rows.append(
            [
                event.when,
                None if age is None else round(age, 1),
                f"{event.previous} → {event.version}",
                result.get("switch_seconds"),
                result.get("requests"),
                result.get("failed"),
                "yes" if result.get("restored") else "no",
                event.who,
            ]
        )
    return Table(
        "Recent rollback drills (newest first)",
        ["when (UTC)", "age (days)", "rolled back", "switch (s)", "requests", "failed",
         "restored", "who"],
        rows,
    )  # fmt: skip


def facts(event: Any, age: float | None, recorded: int) -> dict[str, Any]:
    """The newest drill's numbers (seconds, failed, age_days, the versions) and how many
    drills are recorded."""
    result = event.verdict or {}
    return {
        "seconds": result.get("switch_seconds"),
        "failed": result.get("failed"),
        "requests": result.get("requests"),
        "restored": bool(result.get("restored")),
        "restore_seconds": result.get("restore_switch_seconds"),
        "age_days": None if age is None else round(age, 2),
        "from_version": event.previous,
        "to_version": event.version,
        "drills": recorded,
    }


def judge(
    events: list[Any], max_age_days: int, max_seconds: float
) -> tuple[Literal["pass", "fail"], str, dict[str, Any]]:
    """infra.7's verdict on the recorded drills (newest first, at least one): the newest must
    be at most `max_age_days` old and a success. Returns (status, summary, facts)."""
    newest = events[0]
    age = age_days(newest.when)
    found = facts(newest, age, len(events))
    which = f"the newest rollback drill ({newest.when}, version {newest.previous} → "
    which += f"{newest.version})"
    if age is None or age > max_age_days:
        old = "has an unreadable time" if age is None else f"is {age:.0f} days old"
        return "fail", f"{which} {old}; a drill counts for {max_age_days} days", found
    wrong = problems(newest.verdict or {}, max_seconds)
    if wrong:
        return "fail", f"{which} failed: {'; '.join(wrong)}", found
    result = newest.verdict or {}
    return (
        "pass",
        f"{which}, {age:.1f} days ago, under load ({result.get('requests')} requests from "
        f"{result.get('concurrency')} clients): every request answered by version "
        f"{newest.version} {seconds(result.get('switch_seconds'))} after the rollback began "
        f"(limit {max_seconds:g} s), no failed request; version {newest.previous} restored "
        f"through the gate, answering every request "
        f"{seconds(result.get('restore_switch_seconds'))} after the restore began",
        found,
    )
