"""Shapley sampling (keel.model._sampling): additive by construction, exact where it must be."""

import numpy as np
import pandas as pd
import pytest

from keel.model._sampling import CannotSample, sample_count, shapley_sampling


def test_an_additive_model_gets_its_exact_terms_against_one_training_row():
    row = pd.DataFrame({"a": [2.0], "b": [-1.0], "c": ["x"]})
    start = pd.DataFrame({"a": [0.5], "b": [3.0], "c": ["y"]})

    def score(frame):
        return 2 * frame["a"] - frame["b"] + np.where(frame["c"] == "x", 5.0, 0.0)

    found = shapley_sampling(score, row, start, samples=8, rng=np.random.default_rng(0))
    np.testing.assert_allclose(found.contributions, [3.0, 4.0, 5.0])
    np.testing.assert_allclose(found.errors, 0.0, atol=1e-12)
    assert found.baseline == pytest.approx(2 * 0.5 - 3.0)
    assert found.baseline + found.contributions.sum() == pytest.approx(found.last)


def test_an_interaction_of_two_inputs_is_shared_evenly_by_an_order_and_its_reverse():
    row = pd.DataFrame({"a": [3.0], "b": [2.0]})
    start = pd.DataFrame({"a": [0.0], "b": [0.0]})
    found = shapley_sampling(
        lambda f: f["a"] * f["b"], row, start, samples=2, rng=np.random.default_rng(1)
    )
    np.testing.assert_allclose(found.contributions, [3.0, 3.0])


def test_contributions_add_up_to_the_rows_output_whatever_the_sample_count():
    rng = np.random.default_rng(0)
    starts = pd.DataFrame(rng.normal(size=(50, 5)), columns=list("abcde"))
    row = pd.DataFrame(rng.normal(size=(1, 5)), columns=list("abcde"))

    def score(frame):
        x = frame.to_numpy()
        return np.tanh(x[:, 0] * x[:, 1]) + np.maximum(x[:, 2], x[:, 3]) ** 2 - x[:, 4]

    for samples in (2, 6, 40):
        found = shapley_sampling(score, row, starts, samples=samples, rng=rng)
        total = found.baseline + found.contributions.sum()
        assert total == pytest.approx(score(row)[0], abs=1e-12)
        assert found.samples == samples


def test_a_model_failing_on_mixed_rows_is_reported_with_its_error():
    row = pd.DataFrame({"a": [1.0]})

    def refuse(frame):
        raise ValueError("Input contains NaN")

    with pytest.raises(CannotSample, match="ValueError: Input contains NaN"):
        shapley_sampling(refuse, row, row, samples=2, rng=np.random.default_rng(0))


def test_the_sample_count_is_even_and_bounded_by_the_evaluation_budget():
    assert sample_count(3) == 64
    assert sample_count(64) == 30
    assert sample_count(5000) == 2


def test_a_categorical_input_keeps_its_dtype_in_the_walks():
    row = pd.DataFrame({"c": pd.Categorical(["new"]), "x": [1.0]})
    starts = pd.DataFrame({"c": pd.Categorical(["a", "b"]), "x": [0.0, 2.0]})
    seen = []

    def score(frame):
        seen.append(frame["c"].dtype)
        return frame["x"].to_numpy() + (frame["c"] == "new").to_numpy()

    found = shapley_sampling(score, row, starts, samples=4, rng=np.random.default_rng(0))
    assert isinstance(seen[0], pd.CategoricalDtype)
    assert set(seen[0].categories) == {"a", "b", "new"}
    assert found.baseline + found.contributions.sum() == pytest.approx(2.0)
