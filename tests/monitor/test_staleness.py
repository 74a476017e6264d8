"""`keel.monitor.staleness`: monitor.4 judged from a version's lineage, without a System."""

from datetime import UTC, datetime

from monitor_states import version

from keel.monitor.staleness import StalenessInputs, age_days, judge_staleness

NOW = datetime(2026, 3, 11, tzinfo=UTC)


def _never() -> None:
    raise AssertionError("read past a gate that should have stopped the judgement")


def _inputs(champion, ages=lambda now: [("train", 3.0), ("eval", None)], timestamp="when"):
    return StalenessInputs(timestamp, lambda: champion, ages, NOW, 0.02, 30.0)


def test_without_a_timestamp_nothing_is_read_and_the_age_is_unknown():
    inputs = StalenessInputs(None, _never, _never, NOW, 0.02, 30.0)
    evidence = judge_staleness(inputs)
    assert evidence.status == "not_configured"
    assert "no [system] timestamp" in evidence.summary


def test_a_model_older_than_its_stored_limit_fails_and_its_fresh_twin_passes():
    lineage = {"staleness_limit_days": 5, "data": {"train": {"newest": "2026-03-01T00:00:00"}}}
    stale = judge_staleness(_inputs(version(3, lineage)))
    assert stale.status == "fail"
    assert stale.summary == (
        "version 3 learnt from data 10.0 days old, over model.4's limit of 5 days"
    )
    assert stale.facts["train_source_age_days"] == 3.0
    assert stale.facts["eval_source_age_days"] is None
    fresh = judge_staleness(_inputs(version(3, lineage | {"staleness_limit_days": 30})))
    assert fresh.status == "pass" and "within model.4's limit of 30 days" in fresh.summary
    assert fresh.thresholds == {"staleness_limit_days": 30, "max_drop": 0.02, "period_days": 30.0}


def test_no_champion_fails_and_a_version_without_a_limit_is_not_configured():
    assert judge_staleness(_inputs(None)).status == "fail"
    without = version(2, {"data": {"train": {"newest": "2026-03-01"}}})
    unlimited = judge_staleness(_inputs(without, _never))
    assert unlimited.status == "not_configured"
    assert "registered without model.4's staleness limit" in unlimited.summary


def test_age_days_reads_a_time_without_a_zone_as_utc():
    assert age_days("2026-03-10T00:00:00", NOW) == 1.0
