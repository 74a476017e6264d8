"""One pipeline pass per call: a classifier's labels are taken from its probabilities only
where, on real rows, that gives exactly its own `predict`; otherwise two passes, and said."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from keel.registry.artefact import KeelModel


class Thresholded(BaseEstimator, ClassifierMixin):
    """A classifier whose `predict` is not the most probable class (a 0.3 threshold)."""

    def fit(self, X, y):
        self.inner_ = LogisticRegression().fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.3).astype(int)]


def frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] + rng.normal(scale=0.8, size=n) > 0.4).astype(int).to_numpy()
    return X, y


def keel_model(estimator, classes) -> KeelModel:
    model = KeelModel()
    model.estimator = estimator
    model.build = None
    model.task = "binary" if classes is not None else "regression"
    model.inputs = ["a", "b"]
    model.classes = None if classes is None else list(classes)
    return model


def test_a_classifier_whose_labels_are_its_most_probable_class_makes_one_pass():
    X, y = frame()
    model = keel_model(HistGradientBoostingClassifier(max_iter=20).fit(X, y), [0, 1])
    assert model.one_pass is None  # not checked: two passes
    assert model.check_one_pass(X) is True
    inputs, labels, proba = model.predict_arrays(X)
    np.testing.assert_array_equal(labels, model.estimator.predict(X))
    np.testing.assert_allclose(proba, model.estimator.predict_proba(X))


def test_a_multiclass_classifier_with_string_labels_makes_one_pass():
    X, y = frame()
    names = np.array(["low", "mid", "high"])[np.digitize(X["a"], [-0.5, 0.5])]
    model = keel_model(LogisticRegression().fit(X, names), sorted(set(names)))
    assert model.check_one_pass(X) is True
    np.testing.assert_array_equal(model.predict_arrays(X)[1], model.estimator.predict(X))


def test_a_classifier_whose_predict_is_not_the_most_probable_class_keeps_two_passes():
    X, y = frame()
    model = keel_model(Thresholded().fit(X, y), [0, 1])
    assert model.check_one_pass(X) is False
    _, labels, _ = model.predict_arrays(X)
    np.testing.assert_array_equal(labels, model.estimator.predict(X))
    assert (labels != model.estimator.classes_[model.estimator.predict_proba(X).argmax(1)]).any()


def test_no_rows_to_check_on_means_two_passes():
    X, y = frame()
    model = keel_model(LogisticRegression().fit(X, y), [0, 1])
    assert model.check_one_pass(X.iloc[:0]) is False


def test_a_regressor_makes_one_pass_and_has_no_probabilities():
    X, y = frame()
    model = keel_model(HistGradientBoostingRegressor(max_iter=10).fit(X, X["a"]), None)
    assert model.check_one_pass(X) is True
    _, values, proba = model.predict_arrays(X)
    assert proba is None
    np.testing.assert_allclose(values, model.estimator.predict(X))
