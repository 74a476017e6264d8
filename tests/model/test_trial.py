import numpy as np
import pandas as pd
import pytest

from keel.model.trial import evaluate_expression, reaches_model, signal, trial_rows


def test_evaluate_expression_is_seeded_and_keeps_row_order():
    raw = pd.DataFrame({"a": np.arange(5000), "s": ["x"] * 5000}).set_axis(np.arange(5000)[::-1])
    first = evaluate_expression(raw, "random()", seed=3)
    assert first.equals(evaluate_expression(raw, "random()", seed=3))
    assert not first.equals(evaluate_expression(raw, "random()", seed=4))
    assert list(first.index) == list(raw.index)
    doubled = evaluate_expression(raw, "a * 2 + length(s)")
    assert doubled.tolist() == (raw["a"] * 2 + 1).tolist()
    with pytest.raises(ValueError, match="gave 1 values for 5000 rows"):
        evaluate_expression(raw, "count(*)")


def test_reaches_model_reads_pipelines_and_plain_estimators():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "new": [1.0, 0.0, 1.0, 0.0]})
    y = [0, 1, 0, 1]
    assert reaches_model(LogisticRegression().fit(frame, y), "new")[0] is True
    assert reaches_model(LogisticRegression().fit(frame.to_numpy(), y), "new")[0] is None
    kept = make_pipeline(make_column_transformer(("passthrough", ["a"]), remainder="passthrough"))
    kept.steps.append(("model", LogisticRegression()))
    assert reaches_model(kept.fit(frame, y), "new")[0] is True
    dropped = make_pipeline(make_column_transformer(("passthrough", ["a"])), LogisticRegression())
    reached, note = reaches_model(dropped.fit(frame, y), "new")
    assert reached is False and "preprocessing drops it" in note


def test_the_default_trial_input_is_a_seeded_noisy_copy_of_the_target():
    target = pd.Series(["no", "yes"] * 500, index=np.arange(1000)[::-1])
    values = signal(target, "binary", seed=3)
    assert values.equals(signal(target, "binary", seed=3))
    assert list(values.index) == list(target.index)
    codes = (target == "yes").astype(float)
    assert np.corrcoef(values, codes)[0, 1] > 0.6  # a model that receives it will use it
    assert (values - codes).abs().max() > 0.5  # but it is not the label itself
    prices = pd.Series(np.linspace(100.0, 900.0, 1000))
    assert np.corrcoef(signal(prices, "regression", seed=0), prices)[0, 1] > 0.6


def test_the_trial_trains_on_fewer_rows_when_the_model_is_wide():
    assert trial_rows(50_000, 20) == 20_000
    assert trial_rows(16_000, 2_000) == 2_500
    assert trial_rows(800, 3) == 800


def test_add_input_builds_trains_and_proves_the_model_uses_the_new_input():
    from sklearn.linear_model import LogisticRegression

    from keel.model.contract import Dataset
    from keel.model.metrics import Predictions
    from keel.model.trial import add_input

    rng = np.random.default_rng(0)

    def split(n: int) -> Dataset:
        raw = pd.DataFrame({"a": rng.normal(size=n), "y": rng.integers(0, 2, n)})
        return Dataset(raw, raw[["a"]], raw["y"])

    def build(raw):
        return raw.drop(columns=["y"])

    def fit(inputs, target, *, params=None, seed=None):
        return LogisticRegression().fit(inputs, target)

    def predict(estimator, inputs):
        return Predictions(estimator.predict(inputs), estimator.predict_proba(inputs))

    found = add_input(
        split(600),
        split(300),
        build=build,
        fit=fit,
        predict=predict,
        name="trial_input",
        expression=None,
        metric="roc_auc",
        target="y",
        task="binary",
        seed=0,
        trained_metric=0.5,
    )
    assert found.stage == "done" and found.reached is True, found.error
    assert found.added == ["trial_input"] and found.changed > 0
    assert found.metric_with > 0.8 and found.metric_without == 0.5
    assert "noisy copy of the target y" in found.source
