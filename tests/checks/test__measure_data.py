"""The System adapters of data.2, data.3 and data.6: what they read, and that they cache."""

import numpy as np
import pandas as pd
import pytest
from systems import HGB_TRAIN, binary_frame

from keel.checks._measure_data import measure_costs, measure_importance, measure_lofo
from keel.errors import CheckError
from keel.model.importance import sample_rows
from keel.system import System


def with_noise(n: int, *, seed: int) -> pd.DataFrame:
    frame = binary_frame(n, seed=seed)
    frame["noise"] = np.random.default_rng(seed + 50).normal(size=n)
    return frame


def test_measure_importance_samples_evaluation_rows_and_is_cached(make_system):
    system = make_system(
        with_noise(1500, seed=0),
        with_noise(900, seed=1),
        sections={"importance": {"sample": 500, "repeats": 3}},
    )
    found = measure_importance(system)
    assert found.rows == 500 and found.repeats == 3
    assert {i.input for i in found.inputs} == {"x1", "x2", "group", "noise"}
    assert found.metric == "roc_auc" and found.baseline > 0.7
    assert list(system.keel_dir.glob("cache/importance-*.pkl"))
    again = System.from_path(system.config_file)
    assert measure_importance(again).inputs[0].drops == found.inputs[0].drops


def test_measure_importance_names_an_undefined_metric(make_system):
    evaluation = binary_frame(300, seed=1).assign(y=0)
    sampled = set(sample_rows(300, 100, seed=1))  # the rows data.2 samples (model seed 1)
    evaluation.loc[next(i for i in range(300) if i not in sampled), "y"] = 1
    system = make_system(
        binary_frame(600, seed=0), evaluation, sections={"importance": {"sample": 100}}
    )
    with pytest.raises(CheckError, match="roc_auc is undefined on the 100 sampled evaluation"):
        measure_importance(system)


def test_measure_lofo_retrains_without_each_input(make_system):
    system = make_system(with_noise(1500, seed=0), with_noise(800, seed=1))
    lofo = measure_lofo(system)
    assert set(lofo.deltas) == {"x1", "x2", "group", "noise"}
    assert lofo.train_rows == 1500 and lofo.eval_rows == 800
    assert lofo.deltas["x1"] > 0.1
    assert lofo.deltas["noise"] < 0.01


def test_measure_costs_times_prediction_per_input_and_the_feature_function(make_system):
    code = HGB_TRAIN + "\n\ndef build(raw):\n    return raw.drop(columns=['y'])\n"
    system = make_system(
        binary_frame(1200, seed=0),
        binary_frame(700, seed=1),
        code=code,
        sections={"model": {"features": "sysmodel:build"}},
    )
    m = measure_costs(system)
    assert m.latency_rows == 700 and m.memory_rows == 700
    assert set(m.held_seconds) == set(m.bytes_per_row) == {"x1", "x2", "group"}
    assert m.bytes_per_row["x1"] == 8.0
    assert m.predict_seconds > 0
    assert m.feature_rows == 1200 and m.feature_seconds > 0
    assert list(system.keel_dir.glob("cache/cost-*.pkl"))


def test_measure_costs_without_a_feature_function_has_no_feature_time(make_system):
    m = measure_costs(make_system(binary_frame(600, seed=0)))
    assert m.feature_seconds is None and m.feature_ms_per_row is None
