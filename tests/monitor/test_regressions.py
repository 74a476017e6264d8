"""`keel.monitor.regressions`: monitor.6 judged from versions and windows, without a System."""

from monitor_states import state, version, window

from keel.monitor.regressions import PerformanceInputs, judge_performance

DAY = "2026-03-01T00:00:00+00:00"


def _inputs(versions, windows, min_rows=10):
    champion = versions[-1] if versions else None
    return PerformanceInputs(
        champion,
        max_jump=0.5,
        max_creep=1.0,
        creep_versions=3,
        min_rows=min_rows,
        state=lambda: state(windows, champion),
        promotion_order=lambda number: [v for v in versions if v.version <= number],
    )


def test_a_training_time_that_jumps_over_max_jump_fails_and_a_steady_one_passes():
    served = [window(DAY, 2, 50)]
    slower = [version(1, {"train_seconds": 10.0}), version(2, {"train_seconds": 30.0})]
    failed = judge_performance(_inputs(slower, served))
    assert failed.status == "fail"
    assert failed.summary == "version 2 regressed: training time jumped +200%"
    assert failed.tables[0].rows[0][-1] == "regressed"
    steady = [version(1, {"train_seconds": 10.0}), version(2, {"train_seconds": 11.0})]
    passed = judge_performance(_inputs(steady, served))
    assert passed.status == "pass" and "across versions v1, v2" in passed.summary


def test_a_measure_the_serving_version_lacks_is_not_configured_never_ok():
    lacking = [version(1, {"train_seconds": 10.0, "peak_memory_mb": 100.0})]
    lacking.append(version(2, {"train_seconds": 10.0}))
    evidence = judge_performance(_inputs(lacking, [window(DAY, 2, 50)]))
    assert evidence.status == "not_configured"
    assert evidence.facts["missing"] == ["peak_memory_mb"]


def test_a_serving_version_that_has_not_served_is_not_configured_and_no_champion_fails():
    versions = [version(1, {"train_seconds": 10.0}), version(2, {"train_seconds": 99.0})]
    unserved = judge_performance(_inputs(versions, [window(DAY, 1, 50)]))
    assert unserved.status == "not_configured"
    assert "version 2 has not served yet" in unserved.summary
    assert judge_performance(_inputs([], [])).status == "fail"
