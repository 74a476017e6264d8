"""Unit tests of the training code: diamonds.train.train on small, hand-made frames."""

import numpy as np
import pandas as pd
import pytest
from diamonds.features import build
from diamonds.train import train


@pytest.fixture(scope="module")
def labelled():
    """400 raw diamonds whose price grows with the weight and the clarity, times some noise."""
    rng = np.random.default_rng(0)
    n = 400
    carat = rng.uniform(0.2, 2.5, n)
    clarity = rng.choice(["SI2", "VS1", "IF"], n)
    bonus = pd.Series(clarity).map({"SI2": 1.0, "VS1": 1.3, "IF": 1.8}).to_numpy()
    raw = pd.DataFrame(
        {
            "carat": carat,
            "cut": rng.choice(["Good", "Ideal"], n),
            "color": rng.choice(["D", "G", "J"], n),
            "clarity": clarity,
            "depth": rng.normal(61.8, 1.4, n),
            "table": rng.normal(57.5, 2.2, n),
            "x": 6.5 * carat ** (1 / 3),
            "y": 6.5 * carat ** (1 / 3),
            "z": 4.0 * carat ** (1 / 3),
        }
    )
    price = np.round(4_000 * carat**1.7 * bonus * np.exp(rng.normal(0, 0.1, n)))
    return build(raw).assign(price=price)


def test_learns_the_price_and_predicts_positive_prices(labelled):
    model = train(labelled, "price", {"max_iter": 100}, seed=7)
    inputs = labelled.drop(columns=["price"])
    predicted = model.predict(inputs)
    assert predicted.shape == (len(inputs),)
    assert (predicted > 0).all()
    error = np.abs(predicted - labelled["price"]) / labelled["price"]
    assert np.median(error) < 0.15


def test_learns_the_logarithm_of_the_price(labelled):
    model = train(labelled, "price", {"max_iter": 20}, seed=7)
    assert model.func is np.log and model.inverse_func is np.exp
    assert model.regressor_.max_iter == 20


def test_same_seed_gives_the_same_model(labelled):
    inputs = labelled.drop(columns=["price"])
    first = train(labelled, "price", {"max_iter": 20}, seed=3).predict(inputs)
    second = train(labelled, "price", {"max_iter": 20}, seed=3).predict(inputs)
    np.testing.assert_array_equal(first, second)


def test_skips_rows_without_a_positive_price(labelled):
    frame = labelled.copy()
    frame.loc[frame.index[:10], "price"] = [np.nan, 0, -5, *[np.nan] * 7]
    model = train(frame, "price", {"max_iter": 10}, seed=7)
    assert model.regressor_.n_iter_ >= 1
    assert np.isfinite(model.predict(frame.drop(columns=["price"]))).all()


def test_prices_diamonds_with_missing_inputs(labelled):
    model = train(labelled, "price", {"max_iter": 20}, seed=7)
    inputs = labelled.drop(columns=["price"]).head(3).copy()
    inputs["clarity"] = np.nan
    inputs["z"] = np.nan
    assert np.isfinite(model.predict(inputs)).all()
