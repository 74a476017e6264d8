"""The monitoring dashboard from windows the real intake took from a real prediction log."""

from __future__ import annotations

import re
import time

import pytest
from served_logs import HOSTILE, served_records, served_windows

from keel.evidence import BarChart, Evidence, Table
from keel.monitor.alerts import Alert, AlertSettings, send_alerts
from keel.report.dashboard import MONITOR_PRACTICES, render_dashboard, write_dashboard
from keel.report.timeline import Timeline, drift_chart
from keel.report.values import format_number


@pytest.fixture(scope="module")
def windows(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    return served_windows(root, served_records(6, 60, hostile=True))


def _titles(page: str) -> list[str]:
    return re.findall(r'<svg class="chart[^"]*" role="img"[^>]*aria-label="([^"]*)"', page)


def test_every_chart_is_drawn_from_the_windows(run_result, windows, tmp_path):
    path = write_dashboard(run_result, windows, tmp_path / "out" / "dash.html", alerts=[])
    page = path.read_text(encoding="utf-8")
    assert _titles(page)[:7] == [
        "Served rows per window",
        "Anomaly rate per input",
        "Drift per input from the previous window",
        "Per-example skew: share of examples the feature code recomputes differently",
        "Serving latency per window",
        "Mean of P(class 1) per window",
        "Predicted class shares per window",
    ]
    assert "6 windows" in page and "360 served rows" in page and "model v1, v2" in page
    assert "x0 (js)" in page and "group (linf)" in page  # drift: the measure per kind
    assert "p99 v2" in page
    assert "<script" not in page.lower() and "http://" not in page.replace("http://www.w3", "")
    # the first window has no drift: the line starts at the second
    t = Timeline.of(windows)
    chart, _ = drift_chart(t, {})
    assert chart is not None and chart.series["x0 (js)"][0] is None
    assert chart.series["x0 (js)"][1] > 0.05  # x0's mean moves by half a sd a day


def test_anomaly_and_skew_rates_are_the_logged_shares(windows):
    page = render_dashboard(_empty_result(), windows, alerts=[])
    # day 1 (index 0): every 4th of 60 rows has an anomaly on x1 -> 15/60
    assert "x1 · 2026-10-01: 0.25" in page
    # every 10th recomputed x0 differs -> 0.1 in every window
    assert "x0 · 2026-10-03: 0.1<" in page


def test_hostile_names_and_texts_are_escaped(run_result, windows):
    hostile_alert = {
        "when": "2026-11-02T10:00:00+00:00",
        "practice": "monitor.2",
        "window": "2026-10-01T00:00:00+00:00",
        "cause": "<img src=x onerror=alert(1)>",
        "summary": f"{HOSTILE} went wrong",
        "results": {"http://hook": "HTTP 500"},
        "delivered": False,
    }
    m2 = next(e for e in run_result.evidence if e.practice == "monitor.2")
    m2.summary = HOSTILE
    m2.tables = [Table(HOSTILE, [HOSTILE], [[HOSTILE]])]
    m2.figures = [BarChart(HOSTILE, [HOSTILE], [0.5])]
    page = render_dashboard(run_result, windows, alerts=[hostile_alert])
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(" in page  # shown as text: the input's name, in charts
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_nothing_served_says_what_to_do(run_result):
    page = render_dashboard(run_result, {}, alerts=[])
    assert "Nothing served yet: run `keel serve`" in page
    assert "then run `keel monitor`" in page
    assert "No alerts yet" in page
    assert _titles(page) == [] or all("Served rows" not in t for t in _titles(page))
    for practice in MONITOR_PRACTICES:
        assert f'id="{practice.replace(".", "-")}"' in page  # the verdicts are still shown


def test_one_window_explains_why_drift_is_empty(tmp_path):
    windows = served_windows(tmp_path, served_records(1, 40))
    page = render_dashboard(_empty_result(), windows, alerts=[])
    assert "Drift compares consecutive windows: there is one so far" in page
    assert "Served rows per window" in page


def test_quality_shows_monitor_7_figures_and_tables(run_result, windows):
    m7 = next(e for e in run_result.evidence if e.practice == "monitor.7")
    m7.status, m7.summary = "pass", "roc_auc held in every labelled window"
    m7.figures = [BarChart("roc_auc per window", ["2026-10-01", "2026-10-02"], [0.81, 0.8])]
    m7.tables = [Table("Quality per window", ["window", "roc_auc"], [["2026-10-01", 0.81]])]
    page = render_dashboard(run_result, windows, alerts=[])
    quality = page[page.index('id="quality"') : page.index('id="alerts"')]
    assert "roc_auc per window" in quality and "Quality per window" in quality
    m7.figures, m7.tables = [], []
    page = render_dashboard(run_result, windows, alerts=[])
    assert "No quality figures yet: roc_auc held" in page


def test_alert_history_is_read_from_the_system_newest_first(run_result, windows, tmp_path):
    run_result.root = str(tmp_path)
    history = tmp_path / ".keel" / "monitor" / "alerts.jsonl"
    send_alerts(
        [Alert("monitor.2", "old-cause", "2026-10-01T00:00:00+00:00", "first")],
        AlertSettings(),
        history,
    )
    send_alerts(
        [Alert("monitor.3", "new-cause", "2026-10-02T00:00:00+00:00", "second")],
        AlertSettings(),
        history,
    )
    page = render_dashboard(run_result, windows)
    table = page[page.index('id="alert-table"') :]
    assert table.index("new-cause") < table.index("old-cause")
    assert "recorded (no webhook)" in table


def test_many_inputs_and_windows_draw_the_worst_eight_quickly(tmp_path):
    windows = served_windows(tmp_path, served_records(30, 24, inputs=22))
    started = time.perf_counter()
    page = render_dashboard(_empty_result(), windows, alerts=[])
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"{elapsed:.1f} s to render 30 windows of 23 inputs"
    assert "Showing the 8 of 23 inputs with the highest drift" in page
    drift = page[page.index('aria-label="Drift per input') :].split("</svg>")[0]
    assert "x0 (js)" in drift  # the drifting input is among those shown
    assert len(re.findall(r'<g class="series">', drift)) == 8


def _empty_result():
    from keel import rubric
    from keel.evidence import RunResult

    evidence = [Evidence("monitor.2", "pass", "fine", thresholds={"max_anomaly_rate": 0.2})]
    return RunResult(
        "sys",
        "/nonexistent",
        "0.1.0",
        None,
        "2026-11-02T09:30:00+00:00",
        1.0,
        evidence,
        rubric.score(evidence),
        selected=["monitor.2"],
    )


def test_the_page_shows_the_rows_the_server_refused(run_result, tmp_path):
    records = served_records(1, 60)
    for r in records[:6]:  # refused by the server: no prediction, their anomaly
        r.update(route="rejected", prediction=None, probabilities=None, model_inputs=None)
        r["anomalies"] = ['rows[0].x1: expected a number, got "14 months"']
    windows = served_windows(tmp_path, records)
    page = render_dashboard(run_result, windows, alerts=[])
    assert "54 served rows" in page and "6 refused rows" in page
    assert "refused (schema problem)" in page
    # x1: the 6 refused rows and the served rows logged with an anomaly, of all 60 received
    flagged = sum(1 for r in records[6:] if r["anomalies"])
    assert f"x1 · 2026-10-01: {format_number((6 + flagged) / 60)}<" in page
