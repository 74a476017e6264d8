"""The monitoring dashboard in a real browser: loads offline, no errors, every chart drawn.

Headless Debian Chromium (/usr/bin/chromium) through Playwright, as test_html_browser.py does:
skipped on a workstation without it, a failure when CI is set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browsers import watch
from served_logs import served_records, served_windows

from keel.monitor.alerts import Alert, AlertSettings, send_alerts
from keel.report.dashboard import MONITOR_PRACTICES, write_dashboard

pytestmark = pytest.mark.browser


def _open(browser, path: Path):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = watch(page)
    url = path.resolve().as_uri()
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, seen, url


def test_dashboard_renders_every_chart_alerts_and_verdicts(browser, run_result, tmp_path):
    run_result.root = str(tmp_path)
    history = tmp_path / ".keel" / "monitor" / "alerts.jsonl"
    send_alerts(
        [Alert("monitor.3", "drift:x0", "2026-10-05T00:00:00+00:00", "x0 drifted (js 0.4)")],
        AlertSettings(),
        history,
    )
    windows = served_windows(tmp_path / "served", served_records(12, 40, inputs=12))
    path = write_dashboard(run_result, windows, tmp_path / "dashboard.html")
    page, seen, url = _open(browser, path)

    boxes = page.evaluate(
        "[...document.querySelectorAll('svg.chart')].map(s => {"
        "const r = s.getBoundingClientRect();"
        "return [s.getAttribute('aria-label'), r.width, r.height]})"
    )
    assert len(boxes) >= 7
    empty = [label for label, w, h in boxes if not (w > 100 and h > 100)]
    assert empty == []
    assert page.locator("#alert-table").is_visible()
    assert "drift:x0" in page.locator("#alert-table").inner_text()
    for practice in MONITOR_PRACTICES:
        assert page.locator(f"#{practice.replace('.', '-')}").is_visible()
    assert seen.problems == []
    assert seen.requests == [url]
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 50_000


def test_empty_dashboard_renders_with_what_to_do(browser, run_result, tmp_path):
    run_result.root = str(tmp_path)
    path = write_dashboard(run_result, {}, tmp_path / "dashboard.html")
    page, seen, _ = _open(browser, path)
    assert page.locator("#no-traffic").is_visible()
    assert "Nothing served yet" in page.locator("#no-traffic").inner_text()
    assert "No alerts yet" in page.locator("#alerts").inner_text()
    assert seen.problems == []
