import numpy as np
import pandas as pd
import pytest
from systems import binary_frame

from keel.model.baselines import (
    BASELINES,
    REPORTED,
    baseline_models,
    compare_with_baselines,
    reported_metrics,
    split_columns,
)
from keel.model.metrics import METRICS, metrics_for


def messy_inputs(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Inputs of every kind a user may hand over, with missing values."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(size=n),
            "count": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "kind": pd.Categorical(rng.choice(["a", "b"], n)),
            "flag": rng.random(n) < 0.5,
            "seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 9, n), "D"),
        }
    )
    frame.loc[frame.index[::7], "amount"] = np.nan
    frame.loc[frame.index[::5], "count"] = pd.NA
    frame.loc[frame.index[::6], "city"] = None
    frame.loc[frame.index[::9], "kind"] = np.nan
    return frame


def test_split_columns_sorts_numbers_and_categories_and_leaves_out_dates():
    numeric, categorical = split_columns(messy_inputs(20))
    assert numeric == ["amount", "count"]
    assert categorical == ["city", "kind", "flag"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_baselines_fit_messy_inputs_and_predict_unseen_values_without_warnings(task):
    train, fresh = messy_inputs(400), messy_inputs(50, seed=1)
    fresh["city"] = "lima"  # never seen in training
    rng = np.random.default_rng(2)
    target = {
        "binary": rng.choice(["no", "yes"], 400),
        "multiclass": rng.choice(["x", "y", "z"], 400),
        "regression": rng.normal(size=400),
    }[task]
    models = baseline_models(task, train, seed=0)
    assert list(models) == list(BASELINES)
    for model in models.values():  # warnings are errors under pytest
        model.fit(train, target)
        assert len(model.predict(fresh)) == 50


def test_baselines_without_usable_inputs_are_only_the_constant():
    dates = pd.DataFrame({"seen": pd.date_range("2024-01-01", periods=10)})
    assert list(baseline_models("binary", dates)) == ["constant"]


def test_baseline_models_rejects_an_unknown_task():
    with pytest.raises(ValueError, match="'task' parameter of baseline_models must be one of"):
        baseline_models("ranking", messy_inputs(5))


@pytest.mark.parametrize("task", list(REPORTED))
def test_reported_metrics_start_with_the_primary_one_and_all_fit_the_task(task):
    for primary in metrics_for(task):
        shown = reported_metrics(task, primary)
        assert shown[0] == primary
        assert len(shown) == len(set(shown)) <= 4
        assert all(task in METRICS[m].tasks for m in shown)


def test_baselines_are_scored_on_plain_datasets_beside_the_models_predictions():
    from keel.model.baselines import BaselineScores, baseline_scores
    from keel.model.contract import Dataset
    from keel.model.metrics import Predictions

    def split(n: int, seed: int) -> Dataset:
        frame = binary_frame(n, seed=seed)
        return Dataset(frame, frame.drop(columns="y"), frame["y"])

    def predict(estimator, inputs):
        return Predictions(
            estimator.predict(inputs), estimator.predict_proba(inputs), estimator.classes_
        )

    train, evaluation = split(800, 0), split(300, 1)
    metrics = reported_metrics("binary", "roc_auc")
    found = baseline_scores(train, evaluation, task="binary", metrics=metrics, predict=predict)
    assert isinstance(found, BaselineScores) and list(found.scores) == list(BASELINES)
    assert found.scores["constant"]["roc_auc"] == 0.5
    labels = evaluation.target.to_numpy()
    perfect = Predictions(labels, np.column_stack([1 - labels, labels]).astype(float))
    compared = compare_with_baselines(
        perfect,
        evaluation.target,
        found,
        metric="roc_auc",
        metrics=metrics,
        model_metric=1.0,
        description="a perfect model",
    )
    assert compared.model.metrics["roc_auc"] == 1.0 and compared.model.metrics["accuracy"] == 1.0
    assert compared.best.name in ("linear", "tree") and compared.gain > 0
    assert [b.name for b in compared.baselines] == ["constant", "linear", "tree"]
