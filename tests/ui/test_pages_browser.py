"""The team view's pages in headless Chromium, on SQLite and on PostgreSQL: signed in through
the login form, every page renders without console errors, fetches nothing from elsewhere,
and every chart has a size. Screenshots are kept in the test's folder."""

import datetime as dt
from urllib.parse import quote

import pytest
from browsers import browser, watch  # noqa: F401  (browser: the module fixture)
from ui_reports import report

from keel.ui.payload import envelope

pytestmark = pytest.mark.browser

START = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def published(server):
    """Two systems with a week of daily runs each, and a monitor run of one."""
    token = server.token("publish", "ci-browser")
    for day in range(8):
        for name, team, worse in (("credit-default", "risk", 4), ("fraud", "payments", 99)):
            statuses = {"monitor.3": "fail", "data.2": "fail"} if day >= worse else {}
            body = envelope(
                report(name, started_at=START + dt.timedelta(days=day), statuses=statuses,
                       champion=1 + day // 4),
                kind="score", team=team, owner="ana",
            )  # fmt: skip
            assert server.request("POST", "/api/reports", token=token, body=body)[0] == 201
    monitor = envelope(
        report("credit-default", statuses={"monitor.3": "fail", "infra.6": "left_out"},
               started_at=START + dt.timedelta(days=7, hours=1)),
        kind="monitor", team="risk",
    )  # fmt: skip
    status, _, answer = server.request("POST", "/api/reports", token=token, body=monitor)
    assert status == 201
    return server.token("read", "reader-browser")


@pytest.fixture
def signed_in(browser, server, published):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url + "/")
    page.fill("#token", published)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    yield page
    page.close()


PAGES = [
    "/",
    "/?team=risk",
    "/systems/credit-default",
    "/runs/1",
    "/practices/monitor.3?status=fail",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_sized_charts_and_no_errors(signed_in, server, path, tmp_path):
    page = signed_in
    seen = watch(page)
    response = page.goto(server.url + path, wait_until="load")
    assert response.status == 200
    page.screenshot(path=str(tmp_path / f"{quote(path, safe='')}.png"), full_page=True)
    sizes = page.eval_on_selector_all(
        "svg.chart",
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })",
    )
    if path != "/practices/monitor.3?status=fail":
        assert sizes, "no chart on " + path
    assert all(w > 0 and h > 0 for w, h in sizes), sizes
    assert seen.console_errors == [] and seen.page_errors == []
    assert all(r.startswith(server.url) for r in seen.requests), seen.requests
    assert page.locator("script").count() == 0


def test_the_overview_links_to_a_system_and_on_to_a_run(signed_in, server):
    page = signed_in
    page.goto(server.url + "/")
    page.click("text=credit-default")
    assert page.url.endswith("/systems/credit-default")
    assert page.locator("#status-grid td.cell").count() == 28 * 8
    assert page.locator("#champions tbody tr").count() == 2
    page.click("#status-grid td.cell.s-fail >> nth=0")
    assert "/runs/" in page.url
    assert page.locator("article.practice").count() == 28


def test_the_team_filter_is_a_shareable_link(signed_in, server):
    page = signed_in
    page.goto(server.url + "/")
    page.select_option("select[name=team]", "payments")
    page.click("form.filters button")
    assert page.url.endswith("/?team=payments&owner=")
    assert page.locator("#systems tbody tr").count() == 1
    assert "fraud" in page.inner_text("#systems")
