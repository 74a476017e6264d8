import numpy as np
import pandas as pd
import pytest

from keel.errors import CheckError
from keel.model.importance import (
    Importance,
    InputImportance,
    Lofo,
    grouped_importance,
    measure_importance,
    measure_lofo,
    near_duplicates,
    permutation_importance,
    sample_rows,
)
from keel.model.metrics import Predictions

rng = np.random.default_rng(0)


def threshold_on_a(frame: pd.DataFrame) -> Predictions:
    """A fixed 'model' that reads input a only."""
    score = 1 / (1 + np.exp(-frame["a"].to_numpy()))
    proba = np.column_stack([1 - score, score])
    return Predictions((score > 0.5).astype(int), proba, np.array([0, 1]))


def ab_frame(n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": rng.normal(size=n), "c": pd.Categorical(["x"] * n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * a))).astype(int)
    return frame, y


def test_permutation_importance_is_positive_for_the_input_read_and_zero_for_the_others():
    frame, y = ab_frame()
    baseline, found = permutation_importance(
        threshold_on_a, frame, y, metric="roc_auc", repeats=4, seed=1
    )
    by_name = {i.input: i for i in found}
    assert baseline > 0.8
    assert by_name["a"].mean > 0.2 and by_name["a"].above_noise
    assert len(by_name["a"].drops) == 4
    for name in ("b", "c"):
        assert by_name[name].drops == [0.0] * 4
        assert not by_name[name].above_noise


def test_permutation_importance_does_not_depend_on_column_order():
    frame, y = ab_frame()
    _, forward = permutation_importance(threshold_on_a, frame, y, metric="roc_auc", repeats=3)
    _, backward = permutation_importance(
        threshold_on_a, frame[["c", "b", "a"]], y, metric="roc_auc", repeats=3
    )
    assert forward[0].drops == backward[2].drops


def test_permutation_importance_keeps_the_dtype_of_the_shuffled_column():
    frame, y = ab_frame(200)
    seen = []

    def predict(shuffled: pd.DataFrame) -> Predictions:
        seen.append(shuffled["c"].dtype)
        return threshold_on_a(shuffled)

    permutation_importance(predict, frame, y, metric="accuracy", repeats=2)
    assert all(isinstance(d, pd.CategoricalDtype) for d in seen)


def test_permutation_importance_rejects_no_repeats():
    frame, y = ab_frame(50)
    with pytest.raises(ValueError, match="'repeats' parameter of permutation_importance"):
        permutation_importance(threshold_on_a, frame, y, metric="roc_auc", repeats=0)


def test_input_importance_lower_bound_is_mean_less_two_standard_deviations():
    found = InputImportance("x", [0.1, 0.4, 0.1])
    assert found.mean == pytest.approx(0.2)
    assert found.std == pytest.approx(np.sqrt(0.03))
    assert found.lower == pytest.approx(0.2 - 2 * np.sqrt(0.03))
    assert not found.above_noise
    assert InputImportance("x", [0.19, 0.2, 0.21]).above_noise


def test_importance_shares_count_only_positive_importance():
    importance = Importance(
        "roc_auc",
        0.8,
        100,
        2,
        [
            InputImportance("a", [0.3, 0.3]),
            InputImportance("b", [0.1, 0.1]),
            InputImportance("c", [-0.1, -0.1]),
        ],
    )
    assert importance.shares() == pytest.approx({"a": 0.75, "b": 0.25, "c": 0.0})
    nothing = Importance("roc_auc", 0.5, 100, 2, [InputImportance("a", [0.0, 0.0])])
    assert nothing.shares() == {"a": 0.0}


def test_near_duplicates_finds_rescaled_numbers_and_relabelled_categories():
    n = 3000
    x = rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], n)
    frame = pd.DataFrame(
        {
            "x": x,
            "x_cents": np.where(rng.random(n) < 0.05, np.nan, -100 * x + 5),
            "independent": rng.normal(size=n),
            "group": group,
            "colour": pd.Series(group).map({"a": "red", "b": "green", "c": "blue"}),
            "other": rng.choice(["u", "v"], n),
            "id": np.arange(n).astype(str),
        }
    )
    found = near_duplicates(frame, max_correlation=0.98)
    assert {(d.first, d.second, d.measure) for d in found} == {
        ("x", "x_cents", "|Pearson r|"),
        ("group", "colour", "Cramér's V"),
    }
    assert all(d.value == pytest.approx(1.0) for d in found)


def test_near_duplicates_treats_missing_values_as_a_category_of_their_own():
    values = pd.Series(rng.choice(["a", "b"], 1000))
    frame = pd.DataFrame({"a": values, "b": values.where(rng.random(1000) < 0.5)})
    assert near_duplicates(frame, max_correlation=0.98) == []


def test_sample_rows_is_sorted_seeded_and_everything_when_small():
    assert sample_rows(5, 10, seed=0).tolist() == [0, 1, 2, 3, 4]
    drawn = sample_rows(1000, 100, seed=3)
    assert len(drawn) == 100 and np.all(np.diff(drawn) > 0)
    assert drawn.tolist() == sample_rows(1000, 100, seed=3).tolist()


def test_lofo_verdict_separates_harm_from_retraining_noise():
    lofo = Lofo("roc_auc", 0.8, 100, 100, {"a": 0.05, "b": 0.001, "c": -0.02}, noise=0.004)
    assert [lofo.verdict(n) for n in ("a", "b", "c")] == ["helps", "redundant", "harmful"]


def wide(n: int = 1500, width: int = 300, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, width)), columns=[f"c{i:03d}" for i in range(width)])
    y = (frame["c123"] + 0.5 * frame["c250"] > 0).astype(int).to_numpy()
    return frame, y


def reads_two(frame: pd.DataFrame) -> Predictions:
    score = 1 / (1 + np.exp(-(frame["c123"] + 0.5 * frame["c250"]).to_numpy()))
    return Predictions((score > 0.5).astype(int), np.column_stack([1 - score, score]), [0, 1])


def test_grouped_importance_measures_the_helping_inputs_alone_and_the_rest_in_groups():
    frame, y = wide()
    _, found = grouped_importance(reads_two, frame, y, metric="roc_auc", repeats=3, budget=48)
    by_name = {i.input: i for i in found}
    assert [i.input for i in found] == list(frame.columns)  # every input, in column order
    for name in ("c123", "c250"):
        assert by_name[name].group == 1 and by_name[name].above_noise
    grouped = [i for i in found if i.group > 1]
    assert len(grouped) > 250 and all(i.resolved and not i.above_noise for i in grouped)
    assert Importance("roc_auc", 1.0, 1500, 3, found).shares()["c123"] > 0.5


def test_grouped_importance_leaves_a_helping_group_unresolved_when_the_budget_ends():
    frame, y = wide()
    _, found = grouped_importance(reads_two, frame, y, metric="roc_auc", repeats=3, budget=12)
    unresolved = [i.input for i in found if not i.resolved]
    assert "c123" in unresolved  # its group helps, but it was never measured alone
    assert all(i.group > 1 for i in found if not i.resolved)


def test_near_duplicates_of_many_inputs_match_the_pairwise_correlation_with_missing_values():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(500, 40)), columns=[f"c{i}" for i in range(40)])
    frame["copy"] = frame["c7"] * 3 + 1 + rng.normal(scale=0.01, size=500)
    frame.loc[::7, "copy"] = np.nan
    frame.loc[::5, "c7"] = np.nan
    frame["flat"] = 1.0
    [pair] = near_duplicates(frame, max_correlation=0.98)
    assert (pair.first, pair.second) == ("c7", "copy")
    both = frame[["c7", "copy"]].dropna()
    assert pair.value == pytest.approx(abs(np.corrcoef(both["c7"], both["copy"])[0, 1]))


def logistic_fit(inputs, target, *, params=None, seed=None):
    """A training function on plain data, as model functions take it."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed or 0).fit(inputs, target)


def predict_with(estimator, inputs) -> Predictions:
    return Predictions(
        estimator.predict(inputs), estimator.predict_proba(inputs), estimator.classes_
    )


def test_measure_importance_works_on_plain_frames_and_a_predict_function():
    frame, y = ab_frame(3000)
    found = measure_importance(
        threshold_on_a,
        frame,
        pd.Series(y),
        metric="roc_auc",
        sample=1000,
        repeats=3,
        max_correlation=0.95,
        seed=0,
    )
    assert found.rows == 1000 and found.repeats == 3 and found.metric == "roc_auc"
    by_input = {i.input: i for i in found.inputs}
    assert by_input["a"].above_noise and not by_input["b"].above_noise
    assert found.duplicates == []
    with pytest.raises(CheckError, match="roc_auc is undefined on the 1000 sampled evaluation"):
        measure_importance(
            threshold_on_a,
            frame,
            pd.Series(np.zeros(len(frame), dtype=int)),
            metric="roc_auc",
            sample=1000,
            repeats=1,
            max_correlation=0.95,
            seed=0,
        )


def test_measure_lofo_retrains_with_a_fit_function_on_plain_datasets():
    from keel.model.contract import Dataset

    def split(n: int) -> Dataset:
        frame, y = ab_frame(n)
        inputs = frame[["a", "b"]]
        return Dataset(inputs.assign(y=y), inputs, pd.Series(y))

    lofo = measure_lofo(
        logistic_fit, predict_with, split(1500), split(800), metric="roc_auc", seed=0
    )
    assert set(lofo.deltas) == {"a", "b"}
    assert lofo.train_rows == 1500 and lofo.eval_rows == 800
    assert lofo.deltas["a"] > 0.1 and lofo.deltas["b"] < 0.01
