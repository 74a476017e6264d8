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


def monitor_1(system: System) -> Evidence:
    """monitor.1: the fingerprint stored with the serving version against the present; every
    change fails, listed (what, stored, now), since each is a notification the team must see."""
    from keel.checks._health import dependency_evidence

    return dependency_evidence(system)


# -- monitor.2 -------------------------------------------------------------------------------
# data invariants in serving: anomaly rate per input and window against [monitor]
# max_anomaly_rate


# -- monitor.3 -------------------------------------------------------------------------------
# training/serving skew per example and per distribution, and drift between windows


# -- monitor.4 -------------------------------------------------------------------------------
# staleness: the serving model's training-data age against model.4's limit


def monitor_4(system: System) -> Evidence:
    """monitor.4: the serving version's training-data age (now − its newest training
    timestamp) against the limit model.4 stored with it; the sources' newest rows now too."""
    from keel.checks._health import staleness_evidence

    return staleness_evidence(system)


# -- monitor.5 -------------------------------------------------------------------------------
# numerical stability: NaN/inf in the log, and edge-case probes to the serving model


def monitor_5(system: System) -> Evidence:
    """monitor.5: no NaN or infinity in the model inputs or outputs the serving version logged
    (nor in raw inputs whose schema forbids them), and edge-case probes sent to the serving
    model give finite, in-range output."""
    from keel.checks._stability import stability_evidence

    return stability_evidence(system)


# -- monitor.6 -------------------------------------------------------------------------------
# training time, memory, serving latency and throughput per version: jumps and creep


def monitor_6(system: System) -> Evidence:
    """monitor.6: each measure of computing performance per version, in promotion order: the
    serving version against the previous one (`[monitor] max_jump`) and across the last
    `creep_versions` (`max_creep`)."""
    from keel.checks._regressions import performance_evidence

    return performance_evidence(system)


# -- monitor.7 -------------------------------------------------------------------------------
# prediction quality on served data, with late labels or estimated without them
def monitor_7(system: System) -> Evidence:
    """monitor.7: in each recent window, the primary metric on labelled served rows against the
    version's offline metric; without labels, the CBPE-estimated drop (classifiers) and the
    prediction drift from the evaluation data (or the version's first window)."""
    from keel.checks._online import (
        eval_reference,
        labels,
        offline,
        quality_evidence,
        recent,
        served,
    )
    from keel.monitor.quality import MAX_ECE, assess

    state = monitor_state(system)
    empty = nothing_served("monitor.7", state)
    if empty is not None:
        return empty
    m, metric, task = system.config.monitor, system.metric_name, system.task
    rows, found = served(system), labels(system)
    references, calibration = {}, None
    if state.champion is not None:
        got = eval_reference(system, state.champion.version)
        if got is not None:
            references[state.champion.version], calibration = got
    limit = m.drift_js if task == "regression" else m.drift_linf
    judged = assess(
        rows,
        task=task,
        metric=metric,
        window_seconds=m.window,
        labels=found,
        offline=offline(system),
        references=references,
        tolerance=m.quality_tolerance,
        min_labels=m.min_labels,
        min_rows=m.min_rows,
        max_distance=limit,
    )
    keep = set(recent(rows))
    judged = [w for w in judged if w.window in keep]
    thresholds = {
        "quality_tolerance": m.quality_tolerance,
        "min_labels": m.min_labels,
        "min_rows": m.min_rows,
        "drift_js" if task == "regression" else "drift_linf": limit,
        "max_ece": MAX_ECE,
    }
    return quality_evidence(system, judged, calibration, found is not None, thresholds)


__all__ = ["MonitorState", "System", "monitor_state", "nothing_served"]
