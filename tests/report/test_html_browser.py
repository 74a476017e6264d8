"""report.html in a real browser: renders offline, no errors, nothing fetched.

Runs headless Debian Chromium (/usr/bin/chromium) through Playwright's `executable_path`;
Playwright's own browser downloads are never used. Without Chromium the test is skipped on a
workstation but fails when the CI environment variable is set, so CI cannot skip it silently.
"""

from __future__ import annotations

import pytest
from browsers import unavailable, watch

from keel import rubric
from keel.report.html import write_html

pytestmark = pytest.mark.browser


def test_report_renders_offline_without_errors_or_requests(browser, run_result, tmp_path):
    path = write_html(run_result, tmp_path / "report.html")
    url = path.resolve().as_uri()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = watch(page)

    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")

    final = page.locator("#final-score")
    assert final.is_visible()
    assert final.inner_text() == "3.5"
    body = page.inner_text("body")
    missing = [pid for pid in rubric.PRACTICE_IDS if pid not in body]
    assert missing == []
    assert "ML TEST SCORE" in body.upper()
    assert seen.console_errors == []
    assert seen.page_errors == []
    assert seen.requests == [url]


def test_summary_tiles_jump_to_their_practice(browser, run_result, tmp_path):
    path = write_html(run_result, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(path.resolve().as_uri())
    page.click("a.tile[href='#monitor-3']")
    assert page.url.endswith("#monitor-3")
    assert page.locator("#monitor-3").is_visible()
    assert page.evaluate("document.getElementById('monitor-3').getBoundingClientRect().top") < 100


def test_missing_browser_skips_locally_but_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        unavailable("no browser")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="may not be skipped"):
        unavailable("no browser")
