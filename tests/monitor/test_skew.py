"""`keel.monitor.skew`: monitor.3 judged from windows and training profiles, without a System."""

from monitor_states import profile, state, version, window

from keel.monitor.same_example import SameExample
from keel.monitor.skew import SkewInputs, SkewRules, judge_skew
from keel.monitor.summary import Skew

DAY1, DAY2 = "2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00"
TRAINING = profile(5000, seed=1)


def _inputs(windows, *, training=TRAINING, joined=None):
    return SkewInputs(
        state(windows, version(1)),
        max_skewed_share=0.01,
        skew_linf=0.1,
        skew_js=0.1,
        drift_linf=0.1,
        drift_js=0.1,
        min_rows=100,
        lookback=86_400.0,
        rules=lambda: SkewRules(),
        training_profiles=lambda served_by: (training, training),
        same_example=lambda start, skip: joined or SameExample(note="no [system] id"),
    )


def _served(start, *, shift=0.0, skewed=0, seed=2):
    counts = {"x": Skew(compared=200, skewed=skewed, examples=["t3"] if skewed else [])}
    return window(start, 1, 2000, inputs=profile(2000, shift=shift, seed=seed), skew=counts)


def test_traffic_distributed_as_in_training_passes():
    evidence = judge_skew(_inputs([_served(DAY1), _served(DAY2, seed=3)]))
    assert evidence.status == "pass", evidence.summary
    assert "no drift from 2026-03-01T00:00 to 2026-03-02T00:00" in evidence.summary


def test_a_shifted_window_fails_as_training_serving_skew_and_drift_with_its_causes():
    evidence = judge_skew(_inputs([_served(DAY1), _served(DAY2, shift=3.0)]))
    assert evidence.status == "fail"
    assert evidence.facts["failing_windows"] == ["2026-03-02T00:00 v1"]
    assert evidence.facts["cause"] == ["training-serving:x", "drift:x"]


def test_per_example_skew_over_max_skewed_share_fails_naming_the_input_and_an_example():
    evidence = judge_skew(_inputs([_served(DAY1, skewed=20)]))
    assert evidence.status == "fail"
    assert "x in 20 of 200 rows (10.0% > 1.0%; look at t3)" in evidence.summary
    assert evidence.facts["cause"] == ["skew:x"]


def test_before_enough_rows_or_traffic_nothing_is_judged():
    assert judge_skew(_inputs([])).status == "not_configured"
    small = judge_skew(_inputs([window(DAY1, 1, 50)]))
    assert small.status == "not_configured" and "fewer than [monitor] min_rows" in small.summary
