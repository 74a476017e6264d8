import pytest
from systems import binary_frame

from keel.errors import CheckError
from keel.model.tuning import moves, recorded_search, sweep, swept_params


def test_moves_go_down_and_up_by_the_factor():
    assert moves(0.1, 2.0) == [0.05, 0.2]
    assert moves(200, 2.0) == [100, 400]
    assert moves(3, 3.0) == [1, 9]
    assert moves(1, 2.0) == [2]  # a count stays at least 1, and 1 is not moved to 1
    assert moves(0, 2.0) == [] and moves(True, 2.0) == []


def test_swept_params_skip_booleans_text_and_zero():
    params = {"max_iter": 10, "early_stopping": False, "loss": "log_loss", "l2": 0.0}
    names, skipped = swept_params(params)
    assert names == ["max_iter"]
    assert skipped == {
        "early_stopping": "not a number (False)",
        "loss": "not a number ('log_loss')",
        "l2": "zero cannot be moved by a factor",
    }


def test_tuning_params_must_name_model_params():
    with pytest.raises(CheckError, match=r"\[tuning\] params names depth, not in \[model\] params"):
        swept_params({"max_iter": 10}, ["depth"])


def test_sweep_moves_each_parameter_of_a_fit_function_on_plain_datasets():
    from sklearn.tree import DecisionTreeClassifier

    from keel.model.contract import Dataset
    from keel.model.metrics import Predictions

    def split(n: int, seed: int) -> Dataset:
        frame = binary_frame(n, seed=seed).drop(columns="group")
        return Dataset(frame, frame[["x1", "x2"]], frame["y"])

    def fit(inputs, target, *, params=None, seed=None):
        return DecisionTreeClassifier(random_state=0, **params).fit(inputs, target)

    def predict(estimator, inputs):
        return Predictions(estimator.predict(inputs), estimator.predict_proba(inputs))

    found = sweep(
        fit,
        predict,
        split(1500, 0),
        split(500, 1),
        metric="roc_auc",
        params={"max_depth": 4, "criterion": "gini"},
        named=None,
        factor=2.0,
        tolerance=0.01,
        sample=20_000,
        sample_set=False,
        max_seconds=600.0,
        deep=False,
        seed=0,
    )
    assert [(t.param, t.value) for t in found.trials] == [
        ("max_depth", 2),
        ("max_depth", 4),
        ("max_depth", 8),
    ]
    assert found.skipped == {"criterion": "not a number ('gini')"}
    assert found.train_rows == 1500 and found.eval_rows == 500
    assert found.responsive == ["max_depth"]


def test_recorded_search_counts_fresh_finished_runs_of_the_systems_own_experiment():
    from types import SimpleNamespace

    def run(value, *, experiment="1", start=2_000_000, tags=None, status="FINISHED"):
        return SimpleNamespace(
            info=SimpleNamespace(
                experiment_id=experiment, start_time=start, status=status, run_id=f"r{value}"
            ),
            data=SimpleNamespace(
                tags=tags or {}, metrics={"roc_auc": value}, params={"max_iter": "50"}
            ),
        )

    experiments = {"1": "keel/s/tuning", "2": "other"}
    runs = [run(0.8), run(0.9, tags={"keel.fingerprint": "now"}), run(0.7, start=500_000)]

    def judged(runs, min_trials=2):
        return recorded_search(
            runs,
            experiments,
            system="s",
            metric="roc_auc",
            min_trials=min_trials,
            configured={"max_iter": 50},
            fingerprint="now",
            newest=(1_000.0, "train.py"),
        )

    found = judged(runs)
    assert found.not_counted == "" and found.trials == 2
    assert found.best_metric == 0.9 and found.best_run == "r0.9"
    assert found.configured_metric == 0.9
    assert "1 started before the last change of the code or data (train.py" in found.notes[0]
    assert "fewer than [tuning] min_trials = 3" in judged(runs, 3).not_counted
    assert (
        "1 run(s) in other experiments (other)"
        in judged([*runs, run(1.0, experiment="2")], 3).not_counted
    )
    assert judged([]) is None
