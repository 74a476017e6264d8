"""The pages' data, read from a database with a history of published runs."""

import datetime as dt
import json

from ui_reports import report

from keel.ui import views
from keel.ui.payload import check, envelope
from keel.ui.store import save

DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def publish(engine, kind="score", team=None, owner=None, **kwargs):
    body = envelope(report(**kwargs), kind=kind, team=team, owner=owner)
    return save(engine, check(json.dumps(body).encode()))[0]


def test_the_overview_shows_the_newest_run_its_trend_and_open_alerts_worst_first(engine):
    for day in range(10):  # worse from day 5: monitor.3 fails
        statuses = {"monitor.3": "fail"} if day >= 5 else {}
        publish(engine, system="credit", team="risk", owner="ana",
                started_at=START + day * DAY, statuses=statuses, champion=1 + day // 5)  # fmt: skip
    publish(engine, system="fraud", team="payments", started_at=START)
    publish(engine, kind="monitor", system="credit", statuses={"monitor.6": "fail"},
            started_at=START + 9 * DAY)  # fmt: skip
    page = views.overview(engine)
    credit, fraud = page["rows"]  # the worst first
    assert credit.name == "credit" and fraud.name == "fraud"
    assert credit.failing == ["monitor.3"] and credit.champion == 2
    assert credit.week_change is not None and credit.week_change < 0
    assert credit.alerts == ["monitor.6"]
    assert credit.lowest.startswith("monitor") and 'class="chart spark"' in credit.spark
    assert page["counts"] == {"systems": 2, "failing": 1, "worse": 1, "alerts": 1}
    assert [r.name for r in views.overview(engine, team="payments")["rows"]] == ["fraud"]
    assert [r.name for r in views.overview(engine, owner="ana")["rows"]] == ["credit"]
    assert page["teams"] == ["payments", "risk"]


def test_a_system_page_has_history_a_status_grid_champions_canaries_and_monitoring(engine):
    for day in range(4):
        publish(engine, system="credit", started_at=START + day * DAY, champion=1 + day // 2,
                canary="canary-pass" if day < 2 else "canary-abort",
                statuses={"data.2": "fail"} if day == 3 else {})  # fmt: skip
    monitor = publish(engine, kind="monitor", system="credit", started_at=START + 3 * DAY,
                      statuses={"monitor.3": "fail", "infra.6": "left_out"})  # fmt: skip
    page = views.system_page(engine, "credit")
    assert page["history"] is not None and "<svg" in page["history"]
    assert len(page["grid_runs"]) == 4
    data2 = next(cells for pid, _, cells in page["grid"] if pid == "data.2")
    assert [status for status, _ in data2] == ["pass", "pass", "pass", "fail"]
    assert [(c["from"], c["to"]) for c in page["champions"]] == [(1, 2), (None, 1)]
    assert [c["event"] for c in page["canaries"]][0] == "canary-abort"
    assert page["monitor"]["id"] == monitor
    m3 = next(p for p in page["monitor"]["practices"] if p.id == "monitor.3")
    assert m3.status == "fail" and m3.figures and "<svg" in m3.figures[0]
    assert views.system_page(engine, "nobody") is None


def test_a_practice_across_systems_filters_by_status_team_and_owner(engine):
    publish(engine, system="a", team="risk", statuses={"monitor.3": "fail"})
    publish(engine, system="b", team="risk")
    publish(engine, system="c", team="ops", statuses={"monitor.3": "fail"})
    failing = views.practice_page(engine, "monitor.3", status="fail")
    assert [r["system"] for r in failing["rows"]] == ["a", "c"]
    assert failing["rows"][0]["hint"] == "fix monitor.3"
    risk = views.practice_page(engine, "monitor.3", status="fail", team="risk")
    assert [r["system"] for r in risk["rows"]] == ["a"]
    counts = dict((key, n) for key, _, n in failing["counts"])
    assert counts["fail"] == 2 and counts["pass"] == 1
    assert views.practice_page(engine, "monitor.9") is None


def test_a_run_page_holds_every_practice_with_its_evidence(engine):
    run = publish(engine, system="credit", statuses={"monitor.3": "fail"})
    page = views.run_page(engine, run)
    practices = [p for s in page["sections"] for p in s["practices"]]
    assert len(practices) == 28
    m3 = next(p for p in practices if p.id == "monitor.3")
    assert m3.hint == "fix monitor.3" and m3.tables[0].rows[0][0] == ("income", False)
    assert "<svg" in page["section_chart"]
    assert views.run_page(engine, 999) is None
