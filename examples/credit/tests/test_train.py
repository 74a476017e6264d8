"""Unit tests of the training code: credit.train.train on small, hand-made frames."""

import numpy as np
import pandas as pd
import pytest
from credit.features import build
from credit.train import split_columns, train


@pytest.fixture(scope="module")
def labelled():
    """400 raw applications whose label depends on debt-to-income and late payments."""
    rng = np.random.default_rng(0)
    n = 400
    raw = pd.DataFrame(
        {
            "income": rng.uniform(20_000, 90_000, n),
            "loan_amount": rng.uniform(1_000, 30_000, n),
            "term_months": rng.choice([12, 36, 60], n),
            "debt_to_income": rng.uniform(0, 0.8, n),
            "late_payments_12m": rng.poisson(0.5, n),
            "region": rng.choice(["north", "south", "east"], n),
            "employment": rng.choice(["salaried", "retired"], n),
        }
    )
    risk = 4 * raw["debt_to_income"] + raw["late_payments_12m"] + rng.normal(0, 0.5, n)
    return build(raw).assign(defaulted=(risk > 2.2).astype(int))


def test_sorts_columns_by_dtype():
    frame = pd.DataFrame({"a": [1.0], "b": pd.Categorical(["x"]), "c": [True], "d": ["y"]})
    assert split_columns(frame) == (["b", "d"], ["a", "c"])


def test_learns_the_signal_and_returns_probabilities(labelled):
    model = train(labelled, "defaulted", {"max_iter": 50}, seed=7)
    inputs = labelled.drop(columns=["defaulted"])
    proba = model.predict_proba(inputs)
    assert proba.shape == (len(inputs), 2)
    assert np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    accuracy = (model.predict(inputs) == labelled["defaulted"]).mean()
    assert accuracy > 0.8


def test_same_seed_gives_the_same_model(labelled):
    inputs = labelled.drop(columns=["defaulted"])
    first = train(labelled, "defaulted", {"max_iter": 20}, seed=3).predict_proba(inputs)
    second = train(labelled, "defaulted", {"max_iter": 20}, seed=3).predict_proba(inputs)
    np.testing.assert_array_equal(first, second)


def test_scores_unseen_categories_and_missing_values(labelled):
    model = train(labelled, "defaulted", {"max_iter": 20}, seed=7)
    inputs = labelled.drop(columns=["defaulted"]).head(3).copy()
    inputs["region"] = pd.Categorical(["atlantis", None, "north"])
    inputs["income"] = np.nan
    assert np.isfinite(model.predict_proba(inputs)).all()


def test_ignores_rows_without_a_label(labelled):
    frame = labelled.astype({"defaulted": "float64"})
    frame.loc[frame.index[:10], "defaulted"] = np.nan
    model = train(frame, "defaulted", {"max_iter": 10}, seed=7)
    assert set(model.classes_) == {0.0, 1.0}
