import pytest
from systems import binary_frame

from keel.errors import CheckError
from keel.model.tuning import moves, recorded_search, sweep, swept_params

REJECTS_BIG_DEPTH = """
from sklearn.tree import DecisionTreeClassifier


def train(frame, target, params, seed):
    if params["max_depth"] > 6:
        raise ValueError("max_depth above 6 is not allowed")
    X = frame.drop(columns=[target])
    return DecisionTreeClassifier(random_state=seed, **params).fit(X, frame[target])
"""


def test_moves_go_down_and_up_by_the_factor():
    assert moves(0.1, 2.0) == [0.05, 0.2]
    assert moves(200, 2.0) == [100, 400]
    assert moves(3, 3.0) == [1, 9]
    assert moves(1, 2.0) == [2]  # a count stays at least 1, and 1 is not moved to 1
    assert moves(0, 2.0) == [] and moves(True, 2.0) == []


def test_swept_params_skip_booleans_text_and_zero(make_system):
    system = make_system(
        binary_frame(200, seed=0),
        sections={
            "model": {
                "params": {"max_iter": 10, "early_stopping": False, "loss": "log_loss", "l2": 0.0}
            }
        },
    )
    names, skipped = swept_params(system)
    assert names == ["max_iter"]
    assert skipped == {
        "early_stopping": "not a number (False)",
        "loss": "not a number ('log_loss')",
        "l2": "zero cannot be moved by a factor",
    }


def test_tuning_params_must_name_model_params(make_system):
    system = make_system(binary_frame(200, seed=0), sections={"tuning": {"params": ["depth"]}})
    with pytest.raises(CheckError, match=r"\[tuning\] params names depth, not in \[model\] params"):
        swept_params(system)


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
