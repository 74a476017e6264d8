import numpy as np
from sklearn.linear_model import LogisticRegression
from systems import monthly

from keel.model.metrics import Predictions
from keel.model.staleness import curve, limit


def build(raw):
    return raw[["x1", "x2"]]


def fit(inputs, target, *, params=None, seed=None):
    return LogisticRegression().fit(inputs, target)


def predict(estimator, inputs):
    return Predictions(
        estimator.predict(inputs), estimator.predict_proba(inputs), estimator.classes_
    )


def staleness_of(train, evaluation, *, timestamp="at", max_seconds=600.0):
    return curve(
        train,
        evaluation,
        build=build,
        fit=fit,
        predict=predict,
        metric="roc_auc",
        target="y",
        timestamp=timestamp,
        period_days=30,
        max_age_periods=3,
        max_drop=0.02,
        max_seconds=max_seconds,
        deep=False,
        seed=0,
    )


def test_the_curve_trains_a_fit_function_on_windows_of_plain_rows():
    found = staleness_of(*monthly(8, 600, turn=np.pi / 12))
    assert found.problem == "" and found.notes == []
    assert [a.age_days for a in found.ages] == [0, 30, 60, 90]
    metrics = [a.metric for a in found.ages]
    assert metrics == sorted(metrics, reverse=True)
    assert found.drop_age_days == 30 and limit(found) == 30


def test_no_limit_without_a_timestamp_or_enough_history():
    assert staleness_of(*monthly(8, 100, turn=0.0), timestamp=None).problem == (
        "no [system] timestamp column"
    )
    short = staleness_of(*monthly(3, 300, turn=0.0))
    assert "fewer than the 2 periods of 30 days" in short.problem
    assert limit(short) is None
