"""`keel monitor --engine spark`: the log taken on Spark, the verdicts and alerts as locally."""

import pytest
from served_logs import day_records, serve
from systems import monitored_system
from typer.testing import CliRunner

from keel.cli import app

pytestmark = pytest.mark.spark
runner = CliRunner()


def test_keel_monitor_on_spark_takes_the_log_once_and_alerts_on_the_skewed_input(
    spark, make_system
):
    system = monitored_system(make_system)
    serve(system, day_records(1), day_records(2, skewed=0.05))
    args = ["monitor", str(system.root), "--engine", "spark", "--master", "local[2]"]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output  # monitor.3 fails: x1_x2 recomputed differently
    assert "800 served rows taken this run" in first.output
    assert "alert monitor.3 (skew:x1_x2): recorded (no [alerts] webhooks)" in first.output
    again = runner.invoke(app, args)
    assert "0 served rows taken this run" in again.output  # every row taken once


def test_keel_monitor_refuses_a_master_without_spark(make_system):
    system = monitored_system(make_system)
    result = runner.invoke(app, ["monitor", str(system.root), "--master", "local[2]"])
    assert result.exit_code == 2 and "--master is a Spark master URL" in result.output
