"""Unit tests of the training code: digits.train.train on small scans made by hand."""

import numpy as np
import pandas as pd
import pytest
from digits.features import PIXELS, build
from digits.train import train

CLASSES = 3


@pytest.fixture(scope="module")
def labelled():
    """90 noisy scans of three made-up glyphs: a top bar, a left bar and a diagonal."""
    rng = np.random.default_rng(0)
    glyphs = np.zeros((CLASSES, 8, 8))
    glyphs[0, 1, 1:7] = 16
    glyphs[1, 1:7, 1] = 16
    glyphs[2, range(1, 7), range(1, 7)] = 16
    label = np.repeat(np.arange(CLASSES), 30)
    pixels = glyphs[label].reshape(len(label), 64) + rng.normal(0, 2, (len(label), 64))
    raw = pd.DataFrame(np.clip(np.round(pixels), 0, 16).astype(int), columns=list(PIXELS))
    return build(raw).assign(digit=label)


def test_learns_the_glyphs_and_returns_probabilities(labelled):
    model = train(labelled, "digit", {"C": 10.0, "gamma": 0.01}, seed=7)
    inputs = labelled.drop(columns=["digit"])
    proba = model.predict_proba(inputs)
    assert proba.shape == (len(inputs), CLASSES)
    assert np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(inputs) == labelled["digit"]).mean() > 0.95


def test_params_reach_the_support_vector_machine(labelled):
    model = train(labelled, "digit", {"C": 3.0, "gamma": 0.02}, seed=7)
    svm = model.named_steps["svm"].estimator
    assert (svm.C, svm.gamma, svm.kernel) == (3.0, 0.02, "rbf")


def test_trains_the_same_model_twice(labelled):
    inputs = labelled.drop(columns=["digit"])
    first = train(labelled, "digit", {"C": 10.0}, seed=1).predict_proba(inputs)
    second = train(labelled, "digit", {"C": 10.0}, seed=1).predict_proba(inputs)
    np.testing.assert_array_equal(first, second)


def test_ignores_rows_without_a_label(labelled):
    frame = labelled.astype({"digit": "float64"})
    frame.loc[frame.index[:5], "digit"] = np.nan
    model = train(frame, "digit", {}, seed=7)
    assert sorted(model.classes_) == [0, 1, 2]


def test_scores_a_blank_scan(labelled):
    model = train(labelled, "digit", {}, seed=7)
    blank = build(pd.DataFrame({name: [0] for name in PIXELS}))
    assert np.isfinite(model.predict_proba(blank)).all()
