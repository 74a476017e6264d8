import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.model.metrics import Predictions
from keel.model.slices import (
    find_slices,
    judge,
    quantile_bins,
    search_columns,
    slice_metric,
    slices_of,
)


def test_quantile_bins_split_values_into_equal_shares_with_closed_last_bin():
    labels = quantile_bins(pd.Series(np.arange(100, dtype=float)), 4)
    counts = labels.value_counts()
    assert list(counts) == [25, 25, 25, 25]
    assert labels.iloc[0] == "[0, 24.75)"
    assert labels.iloc[-1] == "[74.25, 99]"


def test_quantile_bins_leave_missing_values_unlabelled_and_merge_tied_edges():
    values = pd.Series([0.0] * 70 + [1.0, 2.0, 3.0] * 10 + [np.nan] * 5)
    labels = quantile_bins(values, 4)
    assert labels.isna().sum() == 5
    assert labels.nunique() < 4
    assert quantile_bins(pd.Series([3.0, 3.0]), 4).tolist() == ["[3, 3]", "[3, 3]"]


def test_quantile_bins_reject_a_bin_count_below_one():
    with pytest.raises(ValueError, match="'bins' parameter of quantile_bins must be an int"):
        quantile_bins(pd.Series([1.0]), 0)


@settings(deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False) | st.none(), min_size=1, max_size=60),
    st.integers(1, 8),
)
def test_quantile_bins_label_every_value_in_order_with_at_most_the_bins_asked(values, bins):
    series = pd.Series([np.nan if v is None else v for v in values], dtype=float)
    labels = quantile_bins(series, bins)
    assert labels.isna().tolist() == series.isna().tolist()
    present = series.notna()
    assert labels[present].nunique() <= bins
    # bins are ordered: a larger value never lands in a bin that starts lower
    lower = labels[present].map(lambda s: float(s[1:].split(",")[0]))
    order = np.argsort(series[present].to_numpy(), kind="stable")
    assert np.all(np.diff(lower.to_numpy()[order]) >= 0)


def test_slices_of_a_column_cover_every_row_once_with_missing_values_last():
    column = pd.Series(["b", "a", None, "b"], name="region")
    found = list(slices_of(column, bins=4, source="configured"))
    assert [s.name for s in found] == ["region = a", "region = b", "region is missing"]
    assert sorted(np.concatenate([s.rows for s in found])) == [0, 1, 2, 3]


def test_slices_of_a_column_of_few_numbers_name_each_number_as_written():
    column = pd.Series([2.0, np.nan, 0.0, 2.0, 0.5], name="visits")
    names = [s.name for s in slices_of(column, bins=4, source="search")]
    assert names == ["visits = 0", "visits = 0.5", "visits = 2", "visits is missing"]


def test_slices_of_a_column_of_many_numbers_are_its_quantile_bins():
    column = pd.Series(np.arange(1000, dtype=float) * 100, name="income")
    found = list(slices_of(column, bins=4, source="search"))
    assert [s.name for s in found][0] == "income in [0, 24975)"
    assert [len(s.rows) for s in found] == [250] * 4


def test_search_columns_skip_identifiers_free_text_dates_and_excluded_columns():
    n = 300
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "note": [f"text {i}" for i in range(n)],
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "y": rng.integers(0, 2, n),
            "amount": rng.normal(size=n),
            "visits": rng.integers(0, 4, n),
            "region": rng.choice(["n", "s"], n),
            "member": rng.random(n) < 0.3,
            "constant": "same",
        }
    )
    assert search_columns(frame, exclude=["y"]) == ["amount", "visits", "region", "member"]


def test_slice_metric_is_undefined_with_a_note_on_a_single_class():
    predictions = Predictions(
        np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 1])
    )
    value, note = slice_metric("roc_auc", np.array([0, 0]), predictions)
    assert np.isnan(value)
    assert "roc_auc undefined on 1 class" in note
    value, note = slice_metric("precision", np.array([1, 1]), predictions.take(np.array([0, 0])))
    assert np.isnan(value)
    assert "precision undefined" in note


def test_judge_fails_a_slice_below_the_floor_or_too_far_below_overall():
    assert not judge(0.78, 0.80, min_metric=None, max_gap=0.05)
    assert judge(0.74, 0.80, min_metric=None, max_gap=0.05)
    assert judge(0.78, 0.80, min_metric=0.79, max_gap=None)
    assert not judge(0.70, 0.80, min_metric=None, max_gap=None)
    assert not judge(0.75, 0.80, min_metric=None, max_gap=0.05)  # exactly at the limit


def scored_frame(n: int, *, seed: int = 0):
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    y = (rng.random(n) < score).astype(int)
    region = rng.choice(["east", "west", "tiny"], n, p=[0.48, 0.48, 0.04])
    noisy = region == "east"
    y[noisy] = rng.integers(0, 2, noisy.sum())
    proba = np.column_stack([1 - score, score])
    frame = pd.DataFrame({"region": region, "score_copy": score, "y": y})
    return frame, y, Predictions((score > 0.5).astype(int), proba, np.array([0, 1]))


def test_find_slices_judges_configured_slices_and_lists_small_ones_unjudged():
    frame, y, predictions = scored_frame(2000)
    found = find_slices(
        frame,
        y,
        predictions,
        metric="roc_auc",
        overall=0.75,
        columns=["region"],
        search=False,
        min_size=200,
        max_gap=0.05,
    )
    verdicts = {r.slice.name: r.verdict for r in found.results}
    assert verdicts == {
        "region = east": "fail",
        "region = tiny": "too small",
        "region = west": "pass",
    }
    assert found.worst == [] and found.searched_columns == []


def test_find_slices_search_reports_the_worst_slices_first_without_repeats():
    frame, y, predictions = scored_frame(2000)
    found = find_slices(
        frame,
        y,
        predictions,
        metric="roc_auc",
        overall=0.75,
        columns=["region"],
        exclude=["y"],
        bins=4,
        min_size=100,
        worst=3,
        max_gap=0.05,
    )
    assert found.searched_columns == ["score_copy"]
    assert len(found.worst) == 3
    metrics = [r.metric for r in found.worst]
    assert metrics == sorted(metrics)
    assert all(r.slice.column == "score_copy" for r in found.worst)


def test_find_slices_rejects_a_column_not_in_the_frame():
    frame, y, predictions = scored_frame(100)
    with pytest.raises(ValueError, match="Got 'state' instead"):
        find_slices(frame, y, predictions, metric="roc_auc", overall=0.7, columns=["state"])


def test_find_slices_on_many_numeric_columns_searches_the_screened_ones_and_every_category():
    rng = np.random.default_rng(3)
    n = 4000
    frame = pd.DataFrame(rng.normal(size=(n, 80)), columns=[f"n{i}" for i in range(80)])
    frame["region"] = rng.choice(["north", "south", "east"], n)
    y = rng.integers(0, 2, n)
    p = np.where(y == 1, 0.8, 0.2)
    bad = frame["n37"].to_numpy() > frame["n37"].quantile(0.75)  # its top bin is predicted badly
    p = np.where(bad, 1 - p, p)
    predictions = Predictions((p > 0.5).astype(int), np.c_[1 - p, p], np.array([0, 1]))
    found = find_slices(
        frame,
        y,
        predictions,
        metric="roc_auc",
        overall=0.5,
        min_size=200,
        max_gap=0.05,
        max_numeric=10,
    )
    assert "n37" in found.searched_columns and "region" in found.searched_columns
    assert len(found.searched_columns) == 11 and len(found.skipped_columns) == 70
    assert "10 of 80 numeric columns searched" in found.screen
    assert found.searched_slices == 3  # the regions: judged whatever the numeric cap
