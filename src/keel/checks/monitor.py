"""Checks of the monitoring section: monitor.1 … monitor.7, on served traffic.

Each is a thin adapter: it gathers its practice's typed inputs from the System
(`keel.checks._monitor_inputs`: `[monitor]`'s thresholds, the log taken once per run through
`keel.checks._monitor_state.monitor_state`, the serving champion, the training profiles) and
returns the judgement's verdict from `keel.monitor`, where each practice's whole judgement
lives, one module each:

    monitor.1  keel.monitor.dependencies   judge_dependencies
    monitor.2  keel.monitor.anomalies      judge_anomalies
    monitor.3  keel.monitor.skew           judge_skew
    monitor.4  keel.monitor.staleness      judge_staleness
    monitor.5  keel.monitor.stability      judge_stability
    monitor.6  keel.monitor.regressions    judge_performance
    monitor.7  keel.monitor.quality_verdict judge_quality

A system that has served nothing yet is `not_configured` with the command that changes that,
never a pass: nothing was measured.
"""

from __future__ import annotations

from keel.checks._monitor_inputs import (
    anomaly_inputs,
    dependency_inputs,
    performance_inputs,
    skew_inputs,
    stability_inputs,
    staleness_inputs,
)
from keel.checks._monitor_state import MonitorState, monitor_state
from keel.checks._online import quality_inputs
from keel.evidence import Evidence
from keel.monitor.anomalies import judge_anomalies
from keel.monitor.dependencies import judge_dependencies
from keel.monitor.gates import nothing_served
from keel.monitor.quality_verdict import judge_quality
from keel.monitor.regressions import judge_performance
from keel.monitor.skew import judge_skew
from keel.monitor.stability import judge_stability
from keel.monitor.staleness import judge_staleness
from keel.system import System


def monitor_1(system: System) -> Evidence:
    """monitor.1: the fingerprint stored with the serving version against the present; every
    change fails, listed (what, stored, now), since each is a notification the team must see."""
    return judge_dependencies(dependency_inputs(system))


def monitor_2(system: System) -> Evidence:
    """monitor.2: received rows conform to the schema: the share of each window's rows (served
    and refused by the server alike) whose input the server found anomalous stays within
    [monitor] max_anomaly_rate; so does the share of served rows whose prediction failed."""
    return judge_anomalies(anomaly_inputs(system))


def monitor_3(system: System) -> Evidence:
    """monitor.3: the served model inputs are what the training feature code computes (per
    example), and served inputs are distributed as in training and as in the window before."""
    return judge_skew(skew_inputs(system))


def monitor_4(system: System) -> Evidence:
    """monitor.4: the serving version's training-data age (now − its newest training
    timestamp) against the limit model.4 stored with it; the sources' newest rows now too."""
    return judge_staleness(staleness_inputs(system))


def monitor_5(system: System) -> Evidence:
    """monitor.5: no NaN or infinity in the model inputs or outputs the serving version logged
    (nor in raw inputs whose schema forbids them), and edge-case probes sent to the serving
    model give finite, in-range output."""
    return judge_stability(stability_inputs(system))


def monitor_6(system: System) -> Evidence:
    """monitor.6: each measure of computing performance per version, in promotion order: the
    serving version against the previous one (`[monitor] max_jump`) and across the last
    `creep_versions` (`max_creep`)."""
    return judge_performance(performance_inputs(system))


# -- monitor.7 -------------------------------------------------------------------------------
# prediction quality on served data, with late labels or estimated without them
def monitor_7(system: System) -> Evidence:
    """monitor.7: in each recent window, the primary metric on labelled served rows against the
    version's offline metric; without labels, the CBPE-estimated drop (classifiers) and the
    prediction drift from the evaluation data (or the version's first window)."""
    return judge_quality(quality_inputs(system))


__all__ = ["MonitorState", "System", "monitor_state", "nothing_served"]
