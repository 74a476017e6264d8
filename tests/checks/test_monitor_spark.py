"""The monitor checks give the same verdicts when the log is taken on Spark (`[engine] kind =
"spark"`) as on this machine: the same system, the same log, one check run per engine."""

from __future__ import annotations

import shutil

import pytest
from served_logs import day_records, serve
from systems import monitored_system

from keel.checks.monitor import monitor_2, monitor_3
from keel.system import System

pytestmark = pytest.mark.spark


def _on_spark(system: System, tmp_path) -> System:
    """The same system (files and log, nothing taken yet) with [engine] kind = "spark"."""
    copy = tmp_path / "on-spark"
    shutil.copytree(system.root, copy)
    toml = copy / "keel.toml"
    toml.write_text(toml.read_text() + '\n[engine]\nkind = "spark"\nmaster = "local[2]"\n')
    return System.from_path(copy)


def _verdict(e):
    keep = (
        "skewed_inputs",
        "skew_compared_rows",
        "drift_flagged",
        "training_serving_flagged",
        "drift_windows",
    )
    return e.status, {k: v for k, v in e.facts.items() if k in keep}


@pytest.mark.parametrize(
    "day2",
    [
        {},  # healthy: both pass
        {"skewed": 0.05},  # per-example skew: both fail on x1_x2
        # drift and training/serving skew, every distance far from its threshold: quantile
        # sketches are randomised, so a distance within their error of the threshold may fall
        # either side of it from one run to the next, on either engine
        {"shift": 5.0, "mostly_a": True},
        {"anomalous": 0.05, "failed": 0.02},  # monitor.2: anomalies and failed predictions
    ],
    ids=["healthy", "skewed", "drifted", "anomalous"],
)
def test_monitor_2_and_3_give_the_same_verdicts_on_spark_as_locally(
    spark, make_system, tmp_path, day2
):
    local = monitored_system(make_system)
    serve(local, day_records(1), day_records(2, **day2))
    remote = _on_spark(local, tmp_path)
    for check in (monitor_2, monitor_3):
        here, there = check(local), check(remote)
        assert _verdict(here) == _verdict(there), (here.summary, there.summary)
    if day2:
        assert "fail" in {monitor_2(remote).status, monitor_3(remote).status}
    else:
        assert monitor_2(remote).status == monitor_3(remote).status == "pass"
