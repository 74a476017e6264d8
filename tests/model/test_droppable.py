import numpy as np
import pandas as pd
import pytest

from keel.model.contract import Dataset
from keel.model.droppable import check_drop, search_droppable
from keel.model.importance import permutation_importance
from keel.model.metrics import Predictions

COPIES = [f"copy_{i}" for i in range(6)]


def copies(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Six noisy copies of one signal that sets the label, and two inputs of noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    frame = pd.DataFrame({c: signal + 0.3 * rng.normal(size=n) for c in COPIES})
    frame["noise_a"], frame["noise_b"] = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-3 * signal))).astype(int)
    return frame, y


def median_of_copies(frame: pd.DataFrame) -> Predictions:
    """A fixed 'model' that reads the signal as the median of its copies: shuffling one copy
    barely moves it, shuffling them all destroys it."""
    score = 1 / (1 + np.exp(-3 * frame[COPIES].median(axis=1).to_numpy()))
    return Predictions((score > 0.5).astype(int), np.column_stack([1 - score, score]), None)


def test_copies_weak_alone_are_kept_for_their_group_and_only_the_noise_is_droppable():
    frame, y = copies(3000, seed=0)
    _, alone = permutation_importance(median_of_copies, frame, y, metric="roc_auc", repeats=5)
    by_name = {i.input: i for i in alone}
    assert max(by_name[c].mean for c in COPIES) < 0.01  # one by one, each copy barely counts
    candidates = [*COPIES, "noise_a", "noise_b"]
    found = search_droppable(
        median_of_copies,
        frame,
        y,
        candidates,
        {c: by_name[c].mean + 2 * by_name[c].std for c in candidates},
        metric="roc_auc",
        repeats=5,
        min_association=0.5,
    )
    assert sorted(found.droppable) == ["noise_a", "noise_b"]
    assert all("stands in for 5 associated" in found.kept[c] for c in COPIES)
    assert [g.members for g in found.groups] == [COPIES] and found.groups[0].mean > 0.3
    assert found.together is not None and not found.together.helps
    assert found.group_share("copy_0") == pytest.approx(found.groups[0].mean / 6)


def test_weak_inputs_that_help_together_are_kept_by_the_bisection():
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})  # independent
    frame["noise"] = rng.normal(size=n)
    signal = frame[[f"x{i}" for i in range(8)]].sum(axis=1).to_numpy()
    y = (signal > 0).astype(int)

    def tiny_weights(f: pd.DataFrame) -> Predictions:  # each x moves the score a little
        score = 1 / (1 + np.exp(-f[[f"x{i}" for i in range(8)]].sum(axis=1).to_numpy()))
        return Predictions((score > 0.5).astype(int), np.column_stack([1 - score, score]), None)

    names = [*(f"x{i}" for i in range(8)), "noise"]
    order = {name: (1.0 if name != "noise" else 0.0) for name in names}
    found = search_droppable(
        tiny_weights, frame, y, names, order, metric="roc_auc", repeats=4, min_association=0.5
    )
    assert found.groups == []  # no two are associated
    assert found.droppable == ["noise"]
    assert all("weak alone" in found.kept[f"x{i}"] for i in range(8))


def logistic_fit(inputs: pd.DataFrame, target: pd.Series, *, params=None, seed=None):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed).fit(inputs, target)


def logistic_predict(estimator, inputs: pd.DataFrame) -> Predictions:
    proba = estimator.predict_proba(inputs)
    return Predictions(estimator.predict(inputs), proba, estimator.classes_)


def datasets() -> tuple[Dataset, Dataset]:
    (a, ya), (b, yb) = copies(2000, seed=1), copies(1000, seed=2)
    return Dataset(a, a, pd.Series(ya)), Dataset(b, b, pd.Series(yb))


@pytest.mark.parametrize(("dropped", "holds"), [(["noise_a", "noise_b"], True), (COPIES, False)])
def test_check_drop_retrains_without_the_inputs_and_holds_only_when_quality_does(dropped, holds):
    train, evaluation = datasets()
    check = check_drop(
        logistic_fit,
        logistic_predict,
        train,
        evaluation,
        dropped,
        metric="roc_auc",
        seed=0,
        max_drop=0.01,
        max_seconds=60,
        deep=False,
        train_seconds=0.01,
    )
    assert check.verified and check.holds is holds
    assert check.train_rows == 2000 and check.eval_rows == 1000
    assert check.with_all > 0.9
    if not holds:
        assert check.loss > 0.3 and "> [importance] max_drop 0.01" in check.describe()


def test_check_drop_over_the_training_budget_is_not_verified_and_names_the_budget():
    train, evaluation = datasets()
    check = check_drop(
        logistic_fit,
        logistic_predict,
        train,
        evaluation,
        ["noise_a"],
        metric="roc_auc",
        seed=0,
        max_drop=0.01,
        max_seconds=5,
        deep=False,
        train_seconds=10.0,
    )
    assert not check.verified and not check.holds
    assert "about 20 s" in check.stopped and "[importance] max_seconds" in check.stopped
    assert check.with_all is None  # nothing was trained
