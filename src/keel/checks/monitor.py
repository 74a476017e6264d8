"""Checks of the monitoring section: monitor.1 … monitor.7, on served traffic.

Each reads the prediction log through `keel.checks._monitor_state.monitor_state` (one intake per
run, shared) and judges what the windows hold. A system that has served nothing yet is
`not_configured` with the command that changes that, never a pass: nothing was measured.
"""

from __future__ import annotations

from keel.checks._monitor_state import MonitorState, monitor_state
from keel.evidence import Evidence, not_configured
from keel.system import System


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


# -- monitor.1 -------------------------------------------------------------------------------
# dependency changes: the fingerprint stored with the serving version against now
# (packages, Python, commit, each data source's schema hash, rows, content hash, newest time)


# -- monitor.2 -------------------------------------------------------------------------------
# data invariants in serving: anomaly rate per input and window against [monitor]
# max_anomaly_rate


# -- monitor.3 -------------------------------------------------------------------------------
# training/serving skew per example and per distribution, and drift between windows


# -- monitor.4 -------------------------------------------------------------------------------
# staleness: the serving model's training-data age against model.4's limit


# -- monitor.5 -------------------------------------------------------------------------------
# numerical stability: NaN/inf in the log, and edge-case probes to the serving model


# -- monitor.6 -------------------------------------------------------------------------------
# training time, memory, serving latency and throughput per version: jumps and creep


# -- monitor.7 -------------------------------------------------------------------------------
# prediction quality on served data, with late labels or estimated without them


__all__ = ["MonitorState", "System", "monitor_state", "nothing_served"]
