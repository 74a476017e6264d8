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


def regression_frame(n: int, *, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    y = np.sin(3 * x1) * 2 + np.abs(x2) + rng.normal(scale=0.2, size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y})


def test_regression_comparison_reports_r2_and_errors_of_every_model(make_system):
    system = make_system(
        regression_frame(1500, seed=0),
        regression_frame(600, seed=1),
        sections={
            "system": {"task": "regression"},
            "model": {"params": {"max_iter": 50, "kind": "regressor"}},
        },
    )
    found = compare_with_baselines(system)
    assert found.metrics == ["r2", "neg_mean_absolute_error", "neg_root_mean_squared_error"]
    assert [b.name for b in found.baselines] == ["constant", "linear", "tree"]
    constant = found.baselines[0].metrics
    assert constant["r2"] == pytest.approx(0, abs=0.02)
    assert found.model.metrics["r2"] > found.best.metrics["r2"] + 0.1
    assert found.gain == found.model.metrics["r2"] - found.best.metrics["r2"]


def test_multiclass_comparison_reports_accuracy_f1_and_log_loss(make_system):
    train, evaluation = binary_frame(1500), binary_frame(600, seed=1)
    for frame in (train, evaluation):
        frame["y"] = np.where(frame["x1"] > 0.5, 2, frame["y"])
    system = make_system(train, evaluation, sections={"system": {"task": "multiclass"}})
    found = compare_with_baselines(system)
    assert found.metric == "accuracy"
    assert found.metrics == ["accuracy", "f1_macro", "neg_log_loss"]
    for scored in [found.model, *found.baselines]:
        assert all(np.isfinite(v) for v in scored.metrics.values())


def test_baselines_are_trained_once_and_reused_from_the_cache(make_system):
    system = make_system(binary_frame(1200), binary_frame(500, seed=1))
    first = compare_with_baselines(system)
    stored = list(system.keel_dir.joinpath("cache").glob("baselines-*.pkl"))
    assert len(stored) == 1
    stamp = stored[0].stat().st_mtime_ns
    again = compare_with_baselines(type(system).from_path(system.config_file))
    assert [b.metrics for b in again.baselines] == [b.metrics for b in first.baselines]
    assert stored[0].stat().st_mtime_ns == stamp  # read, not rewritten


def test_warnings_of_baseline_training_are_kept_as_notes_not_raised(make_system):
    train, evaluation = binary_frame(800), binary_frame(300, seed=1)
    # the imputer drops a column without values, with a warning
    train["empty"] = pd.Series([None] * len(train), dtype=object)
    evaluation["empty"] = pd.Series([None] * len(evaluation), dtype=object)
    found = compare_with_baselines(make_system(train, evaluation))
    assert any("linear baseline: UserWarning: Skipping features" in n for n in found.notes)
    assert found.best.name in ("linear", "tree")
