import numpy as np
import pandas as pd
import pytest

from keel.checks._probes import (
    EXTREMES,
    SAMPLE_ROWS,
    _all_numbers,
    kind,
    kinds,
    probe_features,
    problem,
    search,
    with_nulls,
    with_number,
    with_unseen,
)


def raw_frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": rng.uniform(1, 100, n),
            "count": rng.integers(0, 10, n),
            "flag": rng.random(n) < 0.5,
            "region": pd.Series(rng.choice(["north", "south"], n), dtype="str"),
            "kind": pd.Categorical(rng.choice(["a", "b"], n)),
            "at": pd.date_range("2025-01-01", periods=n, freq="h"),
        }
    )


def robust(raw: pd.DataFrame) -> pd.DataFrame:
    """A feature function that tolerates whatever it is given."""
    out = pd.DataFrame(index=raw.index)
    out["amount"] = pd.to_numeric(raw["amount"], errors="coerce")
    out["log_amount"] = np.log1p(out["amount"].clip(lower=0))
    out["count"] = raw["count"].astype("float64")
    out["region"] = raw["region"].astype("category")
    return out


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([1, 2]), "number"),
        (pd.Series([1.5, np.nan]), "number"),
        (pd.Series([True, False]), "number"),
        (pd.Series([True, None], dtype=object), "number"),
        (pd.Series(["a", None], dtype=object), "category"),
        (pd.Series(["a", "b"], dtype="str"), "category"),
        (pd.Series(pd.Categorical(["a"])), "category"),
        (pd.Series(pd.to_datetime(["2025-01-01"])), "datetime"),
        (pd.Series(pd.to_timedelta(["1D"])), "timedelta"),
        (pd.Series([None, None], dtype=object), "empty"),
    ],
)
def test_kind_of_a_column(values, expected):
    assert kind(values) == expected


def test_with_nulls_widens_the_dtype_where_needed():
    frame = raw_frame(4)
    assert with_nulls(frame["count"]).isna().all()
    assert with_nulls(frame["count"]).dtype == "float64"
    partly = with_nulls(frame["kind"], np.array([1]))
    assert partly.isna().tolist() == [False, True, False, False]
    assert isinstance(partly.dtype, pd.CategoricalDtype)
    assert with_nulls(frame["at"]).isna().all()


def test_with_number_keeps_integers_when_the_number_fits():
    counts = pd.Series([1, 2, 3], dtype="int64")
    assert with_number(counts, 1e12).tolist() == [10**12] * 3
    assert with_number(counts, 1e12).dtype == "int64"
    small = pd.Series([1, 2, 3], dtype="int8")
    assert with_number(small, 1e12).dtype == "float64"
    assert with_number(counts, -1.0, np.array([0])).tolist() == [-1, 2, 3]


def test_with_unseen_adds_new_values_of_the_same_dtype():
    frame = raw_frame(3)
    region = with_unseen(frame["region"])
    assert region.tolist() == ["keel-unseen-0", "keel-unseen-1", "keel-unseen-2"]
    assert region.dtype == frame["region"].dtype
    assert isinstance(with_unseen(frame["kind"]).dtype, pd.CategoricalDtype)


def test_a_robust_feature_function_passes_every_probe():
    results = probe_features(robust, raw_frame(), seed=1)
    names = [r.probe for r in results]
    assert names[:2] == ["clean rows", "nulls in amount"]
    assert {"nulls everywhere", "empty frame", "single row", "unseen categories"} <= set(names)
    assert {"numbers = 1e+12", "numbers = -1e+12", "numbers = 0", "numbers = -1"} <= set(names)
    assert names[-1] == "hypothesis search"
    failed = [r for r in results if r.outcome != "pass"]
    assert failed == []
    assert results[0].detail == f"{SAMPLE_ROWS} rows → 4 columns"


def test_warnings_are_recorded_not_failed():
    def warns(raw: pd.DataFrame) -> pd.DataFrame:
        out = robust(raw)
        out["ratio"] = raw["amount"].to_numpy() / raw["count"].to_numpy()  # divides by zero
        return out

    clean = warns(raw_frame(20).assign(count=1))
    reference = {c: kind(clean[c]) for c in clean}
    wrong, warned = problem(warns, raw_frame(20).assign(count=0), reference)
    assert wrong == "" and "RuntimeWarning" in warned


def test_probes_name_a_crash_on_nulls_and_its_column():
    def crashes(raw: pd.DataFrame) -> pd.DataFrame:
        out = robust(raw)
        out["count"] = raw["count"].astype("int64")
        return out

    results = {r.probe: r for r in probe_features(crashes, raw_frame())}
    assert results["nulls in count"].outcome == "fail"
    assert results["nulls in count"].detail.startswith("raised IntCastingNaNError")
    assert results["nulls in amount"].outcome == "pass"


def test_probes_catch_a_different_number_of_rows_columns_or_kinds():
    reference = {c: kind(robust(raw_frame())[c]) for c in robust(raw_frame())}
    frame = raw_frame(20)
    fewer = problem(lambda raw: robust(raw).iloc[1:], frame, reference)[0]
    assert fewer == "returned 19 rows for 20"
    other = problem(lambda raw: robust(raw).drop(columns=["count"]), frame, reference)[0]
    assert other == "returned other columns: missing count"
    order = problem(
        lambda raw: robust(raw)[["count", "amount", "log_amount", "region"]], frame, reference
    )[0]
    assert order == "returned the columns in a different order"
    kinds = problem(lambda raw: robust(raw).astype({"count": str}), frame, reference)[0]
    assert kinds == "column kinds changed: count number → category"
    assert problem(lambda raw: raw["amount"], frame, reference)[0] == (
        "returned Series, not a DataFrame"
    )


def test_a_function_failing_on_clean_rows_fails_at_once():
    def broken(raw: pd.DataFrame) -> pd.DataFrame:
        raise KeyError("income")

    assert [(r.probe, r.outcome) for r in probe_features(broken, raw_frame())] == [
        ("clean rows", "fail")
    ]


def test_search_finds_a_single_missing_value_among_present_ones():
    def fails_on_mixed(raw: pd.DataFrame) -> pd.DataFrame:
        if raw["amount"].isna().any() and raw["amount"].notna().any():
            raise ValueError("mixed")
        return robust(raw)

    frame = raw_frame(10)
    reference = {c: kind(robust(frame)[c]) for c in robust(frame)}
    result = search(fails_on_mixed, frame, reference)
    assert result.outcome == "fail"
    assert "amount[" in result.detail and "=null" in result.detail
    assert result.detail.endswith("raised ValueError: mixed")
    assert search(robust, frame, reference).outcome == "pass"


def mixed_columns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "small": pd.Series([1, 2, 3], dtype="int8"),
            "big": pd.Series([1, 2, 3], dtype="int64"),
            "real": [0.5, 1.5, 2.5],
            "flag": [True, False, True],
            "text": ["a", "b", None],
            "cat": pd.Categorical(["x", "y", "x"]),
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
            "nothing": [None, None, None],
        }
    )


def test_kinds_of_a_frame_are_the_kind_of_each_column():
    frame = mixed_columns()
    assert kinds(frame) == [kind(frame[c]) for c in frame.columns]


@pytest.mark.parametrize("number", EXTREMES)
def test_all_numbers_at_once_match_setting_each_column_alone(number):
    frame = mixed_columns()
    numbers = ["small", "big", "real"]
    at_once = _all_numbers(frame, numbers, number)
    one_by_one = frame.copy()
    for c in numbers:
        one_by_one[c] = with_number(frame[c], number)
    pd.testing.assert_frame_equal(at_once, one_by_one)
