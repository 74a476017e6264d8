"""The System adapters of model.3, model.4 and model.5: what they read, and that they cache."""

import numpy as np
import pandas as pd
import pytest
from systems import binary_frame, monthly

from keel.checks._measure_model import (
    compare_with_baselines,
    curve,
    staleness_limit,
    sweep,
)
from keel.checks._recorded_search import recorded_search

SECTIONS = {"system": {"timestamp": "at"}, "staleness": {"period_days": 30, "max_age_periods": 3}}


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


REJECTS_BIG_DEPTH = """
from sklearn.tree import DecisionTreeClassifier


def train(frame, target, params, seed):
    if params["max_depth"] > 6:
        raise ValueError("max_depth above 6 is not allowed")
    X = frame.drop(columns=[target])
    return DecisionTreeClassifier(random_state=seed, **params).fit(X, frame[target])
"""


def test_sweep_retrains_each_move_and_reports_rejected_values(make_system):
    system = make_system(
        binary_frame(1500, seed=0).drop(columns="group"),
        binary_frame(500, seed=1).drop(columns="group"),
        code=REJECTS_BIG_DEPTH,
        sections={"model": {"params": {"max_depth": 4}}},
    )
    found = sweep(system)
    assert [(t.param, t.value) for t in found.trials] == [
        ("max_depth", 2),
        ("max_depth", 4),
        ("max_depth", 8),
    ]
    low, configured, high = found.trials
    assert configured.configured and configured.metric == found.configured_metric
    assert low.metric is not None and low.metric < configured.metric
    assert high.metric is None and "max_depth above 6 is not allowed" in high.error
    assert found.best("max_depth") is low
    assert found.off == []


def test_recorded_search_is_a_hook_that_finds_nothing_yet(make_system):
    assert recorded_search(make_system(binary_frame(100, seed=0))) is None


def test_quality_falls_with_age_when_the_relationship_drifts(make_system):
    system = make_system(*monthly(8, 600, turn=np.pi / 12), sections=SECTIONS)
    found = curve(system)
    assert found.problem == "" and found.notes == []
    assert [a.age_days for a in found.ages] == [0, 30, 60, 90]
    metrics = [a.metric for a in found.ages]
    assert metrics == sorted(metrics, reverse=True)
    assert metrics[0] - metrics[-1] > 0.2
    assert found.drop_age_days == 30 and found.limit_days == 30
    assert len({a.rows for a in found.ages}) == 1  # same number of rows in every window
    assert found.window_days > 100
    assert staleness_limit(system) == 30


def test_quality_holds_with_age_on_stationary_data(make_system):
    system = make_system(*monthly(8, 600, turn=0.0), sections=SECTIONS)
    found = curve(system)
    assert found.drop_age_days is None
    assert found.limit_days == 90  # the oldest age measured
    fresh = found.ages[0].metric
    assert all(a.metric > fresh - 0.02 for a in found.ages)


def test_too_short_a_history_is_a_problem_not_a_curve(make_system):
    train, evaluation = monthly(3, 300, turn=0.0)
    system = make_system(train, evaluation, sections=SECTIONS)
    found = curve(system)
    assert "fewer than the 2 periods of 30 days" in found.problem
    assert staleness_limit(system) is None


def test_without_a_timestamp_there_is_no_limit(make_system):
    system = make_system(binary_frame(300, seed=0))
    assert curve(system).problem == "no [system] timestamp column"
    assert staleness_limit(system) is None


def test_a_short_evaluation_period_takes_the_newest_period_from_all_data(make_system):
    train, evaluation = monthly(8, 400, turn=0.0)
    evaluation = evaluation[evaluation["at"] < evaluation["at"].min() + pd.Timedelta(days=10)]
    system = make_system(train, evaluation, sections=SECTIONS)
    found = curve(system)
    assert "less than 30 days" in found.notes[0]
    assert len(found.measured) == 4
