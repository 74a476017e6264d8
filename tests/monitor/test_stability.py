"""`keel.monitor.stability`: NaN and infinity in logged fields, and probe outputs judged."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from keel.monitor.stability import judged, nonfinite_counts, output_problem


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
