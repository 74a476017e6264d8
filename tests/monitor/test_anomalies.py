"""`keel.monitor.anomalies`: monitor.2 judged from windows alone, without a System."""

from monitor_states import state, window

from keel.evidence import not_configured
from keel.monitor.anomalies import AnomalyInputs, judge_anomalies

DAY = "2026-03-01T00:00:00+00:00"


def test_an_input_anomalous_in_more_rows_than_the_limit_fails_naming_it_and_the_window():
    taken = state([window(DAY, 1, 100, anomalies={"x": 20, "y": 1})], None)
    evidence = judge_anomalies(AnomalyInputs(taken, max_anomaly_rate=0.05, min_rows=50))
    assert evidence.status == "fail"
    assert evidence.summary.startswith("1 input × window(s) over 5.0% anomalous rows: x in ")
    assert "2026-03-01T00:00 v1 at 20.0% (20 of 100 rows received)" in evidence.summary
    assert evidence.facts["inputs_over"] == ["x"]


def test_windows_within_the_limit_pass_and_refused_rows_count_as_received():
    taken = state([window(DAY, 1, 90, anomalies={"x": 2}, rejected=10)], None)
    evidence = judge_anomalies(AnomalyInputs(taken, max_anomaly_rate=0.05, min_rows=50))
    assert evidence.status == "pass"
    assert "100 rows received, 10 of them refused by the server" in evidence.summary
    assert evidence.facts["refused_rows"] == 10


def test_failed_predictions_over_the_limit_fail():
    taken = state([window(DAY, 1, 100, errors=30)], None)
    evidence = judge_anomalies(AnomalyInputs(taken, max_anomaly_rate=0.05, min_rows=50))
    assert evidence.status == "fail"
    assert "1 window(s) with over 5.0% failed predictions" in evidence.summary


def test_without_a_schema_the_given_verdict_is_returned_and_small_windows_are_not_judged():
    missing = not_configured("monitor.2", "no schema file", "infer one")
    taken = state([window(DAY, 1, 10)], None)
    assert judge_anomalies(AnomalyInputs(taken, 0.05, 50, missing)) is missing
    small = judge_anomalies(AnomalyInputs(taken, 0.05, 50))
    assert small.status == "not_configured" and "holds 50 rows yet" in small.summary
    empty = judge_anomalies(AnomalyInputs(state([], None), 0.05, 50, missing))
    assert empty.status == "not_configured" and "no served rows yet" in empty.summary
