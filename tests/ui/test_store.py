import json

from sqlalchemy import func, select
from ui_reports import report

from keel.ui.db import practice_results, reports, systems
from keel.ui.payload import check as check_payload
from keel.ui.payload import envelope
from keel.ui.store import body_of, save


def publish(data: dict) -> object:
    return check_payload(json.dumps(data).encode())


def test_a_publish_stores_the_report_its_practices_and_points_the_system_at_it(engine):
    sent = envelope(report(statuses={"monitor.3": "fail"}), kind="score", team="risk", owner="ana")
    report_id, stored = save(engine, publish(sent))
    assert stored
    with engine.connect() as c:
        system = c.execute(select(systems)).one()
        row = c.execute(select(reports)).one()
        results = c.execute(select(func.count()).select_from(practice_results)).scalar()
    assert (system.name, system.team, system.owner) == ("credit-default", "risk", "ana")
    assert system.latest_score_id == report_id and system.latest_monitor_id is None
    assert row.failing == "monitor.3" and row.registry_version == 2
    assert row.canary == "canary-pass"
    assert results == 28
    assert body_of(engine, report_id) == sent["report"]


def test_a_resend_of_the_same_publish_is_stored_once(engine):
    sent = envelope(report(), kind="score")
    first, _ = save(engine, publish(sent))
    again, stored = save(engine, publish(sent))
    assert (again, stored) == (first, False)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(reports)).scalar() == 1


def test_a_late_older_run_does_not_replace_the_newest(engine):
    new, _ = save(
        engine, publish(envelope(report(started_at="2026-11-03T00:00:00+00:00"), kind="score"))
    )
    save(engine, publish(envelope(report(started_at="2026-11-01T00:00:00+00:00"), kind="score")))
    monitor, _ = save(engine, publish(envelope(report(), kind="monitor")))
    with engine.connect() as c:
        system = c.execute(select(systems)).one()
    assert (system.latest_score_id, system.latest_monitor_id) == (new, monitor)


def test_nul_characters_in_evidence_text_are_dropped_not_a_server_error(engine):
    sent = envelope(report(statuses={"data.1": "fail"}, hint="drop\x00 it"), kind="score")
    save(engine, publish(sent))
    with engine.connect() as c:
        hint = c.execute(
            select(practice_results.c.hint).where(practice_results.c.practice == "data.1")
        ).scalar()
    assert hint == "drop it"
