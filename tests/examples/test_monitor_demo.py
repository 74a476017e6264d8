"""`make demo-monitor`, shortened: the same code (examples/credit/monitor_demo.py) on a copy of
the example with less data and fewer days; the planted drift and skew alert on their days and
nothing alerts before."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"

pytestmark = pytest.mark.e2e

DAYS, DRIFT_DAY, SKEW_DAY = 5, 3, 4


def _demo():
    spec = importlib.util.spec_from_file_location("monitor_demo", EXAMPLE / "monitor_demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["monitor_demo"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    demo = _demo()
    folder = tmp_path_factory.mktemp("demo-monitor") / "credit"
    days = demo.simulate(
        folder,
        days=DAYS,
        drift_day=DRIFT_DAY,
        skew_day=SKEW_DAY,
        rows=300,
        data_rows=8_000,
        quiet=True,
    )
    return demo, folder, days


def test_nothing_planted_alerts_before_the_drift_day(run):
    _, _, days = run
    assert [d.rows for d in days] == [300] * DAYS
    assert not any(d.failed for d in days)
    for d in days[: DRIFT_DAY - 1]:
        assert not [a for a in d.alerts if a[0] in ("monitor.2", "monitor.3")], d
        assert d.statuses["monitor.3"] == "pass", d
        assert d.statuses["monitor.2"] == "pass", d


def test_drift_alerts_on_the_drift_day_and_skew_on_the_skew_day(run):
    demo, _, days = run
    drift = days[DRIFT_DAY - 1]
    assert ("monitor.3", "drift:income") in drift.alerts
    assert ("monitor.3", "drift:purpose") in drift.alerts
    assert not [c for p, c in drift.alerts if c.startswith("skew:")]  # the code is still right
    skew = days[SKEW_DAY - 1]
    assert ("monitor.3", f"skew:{demo.BUGGY_INPUT}") in skew.alerts
    before = [c for d in days[: SKEW_DAY - 1] for p, c in d.alerts if c.startswith("skew:")]
    assert before == []
    assert demo.verdict(days, DRIFT_DAY, SKEW_DAY) == []


def test_the_alert_history_and_the_table_hold_the_days(run):
    demo, folder, days = run
    history = [
        json.loads(line)
        for line in (folder / ".keel" / "monitor" / "alerts.jsonl").read_text().splitlines()
    ]
    windows = {e["window"][:10] for e in history if e["cause"].startswith("drift:")}
    assert days[DRIFT_DAY - 1].date in windows
    assert all(
        e["window"][:10] >= days[DRIFT_DAY - 1].date
        for e in history
        if e["practice"] == "monitor.3"
    )
    text = demo.table(days)
    assert f"skew:{demo.BUGGY_INPUT}" in text.splitlines()[SKEW_DAY]
    assert (folder / ".keel" / "monitor" / "dashboard.html").is_file()


def test_a_missed_alert_is_reported(run):
    demo, _, days = run
    quiet = [demo.Day(d.day, d.date, d.rows, 0, d.drifted, d.buggy) for d in days]
    problems = demo.verdict(quiet, DRIFT_DAY, SKEW_DAY)
    assert any("drift alert" in p for p in problems)
    assert any("skew alert" in p for p in problems)
