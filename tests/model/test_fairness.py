import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from keel.model.fairness import (
    CRAMERS_V,
    ETA,
    PEARSON,
    abs_pearson,
    association,
    contingency,
    correlation_ratio,
    cramers_v,
    find_proxies,
    group_labels,
    group_report,
    is_group_column,
    scan_proxies,
)
from keel.model.metrics import Predictions

rng = np.random.default_rng(0)


def test_contingency_counts_each_pair_of_values():
    table = contingency(np.array(["a", "a", "b", "b", "b"]), np.array([1, 2, 1, 1, 1]))
    assert table.tolist() == [[1.0, 1.0], [3.0, 0.0]]


@pytest.mark.parametrize("bias_correction", [True, False])
def test_cramers_v_of_a_column_with_itself_is_one(bias_correction):
    x = rng.choice(["a", "b", "c", "d"], 1000)
    assert cramers_v(x, x, bias_correction=bias_correction) == pytest.approx(1.0)
    renamed = pd.Series(x).map({"a": "w", "b": "x", "c": "y", "d": "z"})
    assert cramers_v(x, renamed, bias_correction=bias_correction) == pytest.approx(1.0)


def test_cramers_v_of_independent_columns_is_near_zero_and_corrected_is_smaller():
    x, y = rng.choice(list("abcdefghij"), 3000), rng.choice(["f", "m"], 3000)
    corrected, plain = cramers_v(x, y), cramers_v(x, y, bias_correction=False)
    assert corrected < 0.03
    assert plain < 0.1
    assert corrected <= plain


def test_cramers_v_corrects_the_bias_of_many_values_with_few_rows_each():
    ids = np.arange(400).astype(str).repeat(2)  # 400 values, two rows each
    gender = rng.choice(["f", "m"], 800)
    assert cramers_v(ids, gender, bias_correction=False) > 0.5
    assert cramers_v(ids, gender) < 0.2


def test_cramers_v_of_a_constant_is_zero():
    assert cramers_v(np.array(["a"] * 10), rng.choice(["f", "m"], 10)) == 0.0


def test_correlation_ratio_is_one_when_the_category_determines_the_value():
    groups = rng.choice(["a", "b", "c"], 500)
    values = pd.Series(groups).map({"a": 1.0, "b": 5.0, "c": -2.0})
    assert correlation_ratio(groups, values) == pytest.approx(1.0)
    assert correlation_ratio(groups, values, bias_correction=False) == pytest.approx(1.0)


def test_correlation_ratio_matches_its_definition_and_is_near_zero_for_noise():
    groups = np.array(["a", "a", "b", "b"])
    values = np.array([1.0, 3.0, 5.0, 7.0])  # between 16, total 20
    assert correlation_ratio(groups, values, bias_correction=False) == pytest.approx(
        math.sqrt(16 / 20)
    )
    noise_groups, noise = rng.choice(["a", "b"], 3000), rng.normal(size=3000)
    assert correlation_ratio(noise_groups, noise) < 0.05
    assert correlation_ratio(groups, np.ones(4)) == 0.0


def test_abs_pearson_is_the_absolute_correlation_and_zero_for_a_constant():
    x = rng.normal(size=200)
    assert abs_pearson(x, -3 * x + 1) == pytest.approx(1.0)
    assert abs_pearson(x, np.full(200, 2.0)) == 0.0
    assert abs_pearson(x, x**2) == pytest.approx(abs(np.corrcoef(x, x**2)[0, 1]))


def test_association_picks_the_measure_by_the_kinds_of_the_columns():
    n = 300
    gender = pd.Series(rng.choice(["f", "m"], n))
    age = pd.Series(rng.integers(18, 80, n).astype(float))
    city = pd.Series(rng.choice(["x", "y", "z"], n))
    income = pd.Series(rng.normal(size=n))
    assert association(city, gender).measure == CRAMERS_V
    assert association(income, gender).measure == ETA
    assert association(city, age).measure == ETA
    assert association(income, age).measure == PEARSON
    assert association(income, pd.Series(rng.integers(0, 2, n)), y_groups=True).measure == ETA


def test_association_drops_rows_where_either_column_is_missing():
    x = pd.Series(["a", "b", None, "a", "b", "a"])
    y = pd.Series([1.0, 2.0, 3.0, np.nan, 2.0, 1.0])
    found = association(x, y)
    assert found.rows == 4
    assert found.value == pytest.approx(1.0)


labels = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=2, max_size=80)
numbers = st.floats(-1e6, 1e6, allow_nan=False)


@settings(deadline=None)
@given(st.data())
def test_cramers_v_stays_within_zero_and_one(data):
    x = data.draw(labels)
    y = data.draw(st.lists(st.sampled_from(["p", "q", "r"]), min_size=len(x), max_size=len(x)))
    for correct in (True, False):
        assert 0.0 <= cramers_v(np.array(x), np.array(y), bias_correction=correct) <= 1.0


@settings(deadline=None)
@given(st.data())
def test_correlation_ratio_stays_within_zero_and_one(data):
    x = data.draw(labels)
    y = data.draw(st.lists(numbers, min_size=len(x), max_size=len(x)))
    for correct in (True, False):
        assert 0.0 <= correlation_ratio(np.array(x), np.array(y), bias_correction=correct) <= 1.0


@settings(deadline=None)
@given(st.data())
def test_abs_pearson_stays_within_zero_and_one(data):
    x = data.draw(st.lists(numbers, min_size=0, max_size=60))
    y = data.draw(st.lists(numbers, min_size=len(x), max_size=len(x)))
    assert 0.0 <= abs_pearson(np.array(x), np.array(y)) <= 1.0


def test_find_proxies_flags_a_copy_of_the_attribute_and_sorts_strongest_first():
    n = 2000
    gender = rng.choice(["f", "m"], n)
    inputs = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "shoe_size": (gender == "m") + rng.normal(scale=0.2, size=n),
            "flipped": np.where(rng.random(n) < 0.05, "?", gender),
        }
    )
    found = find_proxies(inputs, pd.DataFrame({"gender": gender}), max_association=0.5)
    assert [p.input for p in found] == ["flipped", "shoe_size", "noise"]
    assert [p.flagged for p in found] == [True, True, False]
    values = [p.value for p in found]
    assert values == sorted(values, reverse=True)


def test_find_proxies_samples_at_most_max_rows():
    n = 500
    gender = pd.DataFrame({"gender": rng.choice(["f", "m"], n)})
    inputs = pd.DataFrame({"x": rng.normal(size=n)})
    found = find_proxies(inputs, gender, max_association=0.5, max_rows=100, seed=3)
    assert found[0].rows == 100
    again = find_proxies(inputs, gender, max_association=0.5, max_rows=100, seed=3)
    assert again == found


def test_find_proxies_rejects_frames_of_different_lengths():
    with pytest.raises(ValueError, match="must have one row per input row"):
        find_proxies(
            pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"g": ["a"]}), max_association=0.5
        )


def test_group_labels_keep_codes_and_bin_a_continuous_attribute():
    assert group_labels(pd.Series([1, 0, None, 1])).tolist() == ["1", "0", "missing", "1"]
    ages = group_labels(pd.Series(np.arange(18, 98, dtype=float)))
    assert len(set(ages)) == 4


def biased_predictions(n: int, groups: np.ndarray, *, seed: int):
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, n)
    score = np.clip(y * 0.4 + r.random(n) * 0.6 + (groups == "m") * 0.2, 0, 1)
    proba = np.column_stack([1 - score, score])
    return y, Predictions((score > 0.5).astype(int), proba, np.array([0, 1]))


LIMITS = {
    "min_group_size": 30,
    "max_demographic_parity_difference": 0.1,
    "max_equalized_odds_difference": 0.1,
}


@pytest.mark.parametrize("block_size", [7, 4096])
def test_group_report_differences_equal_fairlearns_on_the_large_groups(block_size):
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    n = 1200
    groups = np.where(np.arange(n) < 600, "f", "m").astype(object)
    groups[:10] = "x"
    y, predictions = biased_predictions(n, groups, seed=1)
    report = group_report(
        "gender",
        groups,
        y,
        predictions,
        task="binary",
        metric="roc_auc",
        block_size=block_size,
        **LIMITS,
    )
    by_name = {g.name: g for g in report.groups}
    assert not by_name["x"].included and by_name["x"].size == 10
    assert by_name["f"].size == 590 and by_name["f"].included
    large = groups != "x"
    expected_dp = demographic_parity_difference(
        y[large], predictions.labels[large], sensitive_features=groups[large]
    )
    expected_eo = equalized_odds_difference(
        y[large], predictions.labels[large], sensitive_features=groups[large]
    )
    parity, odds = report.differences
    assert parity.value == pytest.approx(expected_dp)
    assert odds.value == pytest.approx(expected_eo)
    assert parity.verdict == "fail" and odds.verdict == "fail"
    f_rows = groups == "f"
    assert by_name["f"].metrics["roc_auc"] == pytest.approx(
        roc_auc_score(y[f_rows], predictions.score[f_rows])
    )


def test_group_report_leaves_a_one_class_group_out_of_equalized_odds():
    n = 900
    groups = np.repeat(np.array(["a", "b", "c"], dtype=object), 300)
    y, predictions = biased_predictions(n, groups, seed=2)
    y[groups == "c"] = 1
    report = group_report("g", groups, y, predictions, task="binary", metric="accuracy", **LIMITS)
    odds = report.differences[1]
    assert odds.note == "left out (one class only): c"
    assert not math.isnan(odds.value)


def test_group_report_cannot_measure_differences_with_one_large_group():
    groups = np.array(["a"] * 100 + ["b"] * 5, dtype=object)
    y, predictions = biased_predictions(105, groups, seed=3)
    report = group_report("g", groups, y, predictions, task="binary", metric="roc_auc", **LIMITS)
    assert [d.verdict for d in report.differences] == ["not measured", "not measured"]
    assert report.differences[0].note == "fewer than two groups with at least 30 rows"


def _wide_inputs(rows: int, columns: int, *, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric inputs (some missing, one constant, one tied to the attribute) and attributes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, columns))
    x[rng.random((rows, columns)) < 0.05] = np.nan
    x[:, 1] = 3.0  # no variation
    gender = rng.choice(["f", "m", "x"], rows)
    x[:, 2] = (gender == "m") + rng.normal(scale=0.3, size=rows)
    inputs = pd.DataFrame(x, columns=[f"c{i}" for i in range(columns)])
    inputs["band"] = rng.choice(["lo", "hi"], rows)
    age = rng.integers(18, 90, rows).astype(float)
    age[rng.random(rows) < 0.1] = np.nan
    inputs["c3"] = age * 0.5 + rng.normal(size=rows)
    sensitive = pd.DataFrame({"gender": gender, "age": age})
    sensitive.loc[rng.random(rows) < 0.05, "gender"] = None
    return inputs, sensitive


def test_scan_proxies_on_many_columns_equals_the_measure_column_by_column():
    inputs, sensitive = _wide_inputs(3000, 300, seed=4)  # more than one block of columns
    found = scan_proxies(inputs, sensitive, max_association=0.5)
    assert found.rows == found.total_rows == 3000 and found.note == ""
    assert len(found.proxies) == 2 * inputs.shape[1]
    for p in found.proxies:
        expected = association(
            inputs[p.input],
            sensitive[p.attribute],
            y_groups=is_group_column(sensitive[p.attribute]),
        )
        assert (p.measure, p.rows) == (expected.measure, expected.rows), p
        assert p.value == pytest.approx(expected.value, abs=1e-9), p
    flagged = {(p.input, p.attribute) for p in found.proxies if p.flagged}
    assert flagged == {("c2", "gender"), ("c3", "age")}


def test_scan_proxies_says_when_it_sampled_rows():
    inputs, sensitive = _wide_inputs(2000, 5, seed=5)
    found = scan_proxies(inputs, sensitive, max_association=0.5, max_rows=500)
    assert found.rows == 500 and found.total_rows == 2000
    assert found.note == "proxies measured on a seeded sample of 500 of 2,000 rows"
