"""The verdicts a monitoring judgement gives before it judges anything.

Nothing serves (no champion in the registry), the log holds no served row yet, or no window
holds `[monitor] min_rows` rows: each is a verdict of its own, `fail` for the first (a system
that serves nothing is not monitored) and `not_configured` for the others (nothing was
measured, which is never a pass). The gate on the serving version's own traffic,
`not_yet_served`, lives with the state it reads (`keel.monitor.state`).
"""

from __future__ import annotations

from keel.evidence import Evidence, not_configured
from keel.monitor.state import MonitorState

__all__ = ["NO_CHAMPION", "no_champion", "nothing_received", "nothing_served", "too_few_rows"]

NO_CHAMPION = "Register a version with `keel train` and make it serve with `keel promote VERSION`."


def no_champion(practice: str, what: str) -> Evidence:
    """`fail` when the registry has no champion: `what` says what cannot be judged then."""
    summary = f"no version serves: the registry has no champion, so {what}"
    return Evidence(practice, "fail", summary, hint=NO_CHAMPION)


def nothing_served(practice: str, state: MonitorState) -> Evidence | None:
    """`not_configured` when the log holds no served rows yet, else None."""
    if state.windows:
        return None
    return not_configured(
        practice,
        f"the prediction log ({state.log_root}) holds no served rows yet: nothing to monitor",
        "Serve the champion with `keel serve`, send it traffic, then run `keel monitor` (or "
        "`keel score` again).",
    )


def nothing_received(practice: str, state: MonitorState) -> Evidence | None:
    """`not_configured` when the log holds no row yet, served or refused, else None."""
    if any(w.received for w in state.windows.values()):
        return None
    return nothing_served(practice, state)


def too_few_rows(practice: str, state: MonitorState, min_rows: int) -> Evidence:
    """`not_configured` when no window holds [monitor] min_rows rows yet."""
    return not_configured(
        practice,
        f"no window of served traffic holds {min_rows} rows yet ({len(state.windows)} "
        f"window(s), {state.rows} rows): too few to judge",
        f"Let more traffic in, or lower [monitor] min_rows (now {min_rows}) or widen [monitor] "
        "window.",
    )
