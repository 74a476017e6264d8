"""`keel.monitor.stability`: NaN and infinity in logged fields, and probe outputs judged."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
from monitor_states import state, version, window

from keel.monitor.stability import (
    StabilityInputs,
    judge_stability,
    judged,
    nonfinite_counts,
    output_problem,
)


def test_non_finite_model_inputs_and_outputs_count_and_raw_inputs_only_where_forbidden():
    windows = [
        SimpleNamespace(nonfinite={"inputs.x": 2, "model_inputs.x": 1}),
        SimpleNamespace(nonfinite={"inputs.y": 3, "outputs.proba_1": 4}),
    ]
    counts = nonfinite_counts(windows)
    assert counts == {"inputs.x": 2, "inputs.y": 3, "model_inputs.x": 1, "outputs.proba_1": 4}
    bad = judged(counts, allowed=lambda name: name == "x")
    assert bad == {"inputs.y": 3, "model_inputs.x": 1, "outputs.proba_1": 4}


def test_a_nan_model_input_is_fine_where_the_model_was_trained_on_missing_values():
    counts = {"model_inputs.x:nan": 5, "model_inputs.x:inf": 1, "model_inputs.y:nan": 2}
    bad = judged(counts, allowed=lambda name: False, missing_ok=lambda name: name == "x")
    assert bad == {"model_inputs.x:inf": 1, "model_inputs.y:nan": 2}


def test_probe_outputs_must_be_finite_probabilities_summing_to_one():
    good = pd.DataFrame({"prediction": [0, 1], "proba_0": [0.3, 0.6], "proba_1": [0.7, 0.4]})
    assert output_problem(good, 2, [0, 1]) == ""
    nan = good.assign(proba_1=[np.nan, 0.4])
    assert "NaN" in output_problem(nan, 2, [0, 1])
    off = good.assign(proba_1=[0.9, 0.4])
    assert "sum to 1" in output_problem(off, 2, [0, 1])
    assert "rows" in output_problem(good, 3, [0, 1])
    assert "outside" in output_problem(good.assign(proba_0=[-0.2, 0.6]), 2, [0, 1])


def test_regression_outputs_must_be_finite():
    assert output_problem(pd.DataFrame({"prediction": [1.0, 2.0]}), 2, None) == ""
    assert "1 of 2" in output_problem(pd.DataFrame({"prediction": [1.0, np.inf]}), 2, None)


class _Inner:
    """A model whose feature code passes raw rows on, predicting `x` itself (NaN passes on)."""

    classes = None

    def predict_with_inputs(self, frame):
        return frame, pd.DataFrame({"prediction": frame["x"].astype(float)})


class _Model:
    def unwrap_python_model(self):
        return _Inner()


def _stability(windows, champion, probes, min_rows=10):
    return StabilityInputs(
        champion,
        min_rows,
        state=lambda: state(windows, champion),
        allowed=lambda name: False,
        missing_ok=lambda name: False,
        model=_Model,
        probes=lambda: probes,
    )


def test_the_judgement_fails_naming_a_probe_whose_output_is_not_finite():
    clean = pd.DataFrame({"x": [1.0, 2.0]})
    probes = [("clean rows", clean), ("x missing", pd.DataFrame({"x": [np.nan, 1.0]}))]
    served = [window("2026-03-01T00:00:00+00:00", 1, 50)]
    evidence = judge_stability(_stability(served, version(1), probes))
    assert evidence.status == "fail"
    assert "1 of 2 edge-case probes fail (x missing: 1 of 2 predictions are NaN or infinite)" in (
        evidence.summary
    )
    passed = judge_stability(_stability(served, version(1), probes[:1]))
    assert passed.status == "pass" and passed.facts["served_rows"] == 50


def test_the_judgement_fails_on_logged_nan_outputs_and_waits_for_traffic_otherwise():
    probes = [("clean rows", pd.DataFrame({"x": [1.0]}))]
    day = "2026-03-01T00:00:00+00:00"
    logged = [window(day, 1, 50, nonfinite={"outputs.prediction:nan": 3}, errors=2)]
    failed = judge_stability(_stability(logged, version(1), probes))
    assert failed.status == "fail"
    assert "2 of 50 served rows failed in the model" in failed.summary
    assert "3 NaN or infinite values served in outputs.prediction:nan" in failed.summary
    unserved = judge_stability(_stability([window(day, 1, 5)], version(1), probes))
    assert unserved.status == "not_configured"
    assert "(all 1 edge-case probes give finite, in-range output)" in unserved.summary


def test_without_a_champion_the_judgement_fails_reading_nothing():
    def never():
        raise AssertionError("read without a serving version")

    inputs = StabilityInputs(None, 10, never, never, never, never, never)
    evidence = judge_stability(inputs)
    assert evidence.status == "fail" and "there is no model to probe" in evidence.summary
