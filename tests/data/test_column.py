"""Column profiles (keel.data.column) and how each batch feeds them (keel.data._update)."""

import numpy as np
import pyarrow as pa
import pytest
from profiles import assert_quantiles_within_rank_error, close, table

from keel.data._hll import Hll
from keel.data._update import REDUCE_TO
from keel.data.profile import profile_batches


def test_profile_gives_exact_counts_extremes_and_moments_of_every_kind():
    t = table(3000)
    p = profile_batches(t, source="t")
    assert p.rows == 3000 and p.batches == 1 and list(p.columns) == t.column_names
    x = t.column("x").to_numpy(zero_copy_only=False)
    valid = x[t.column("x").is_valid().to_numpy(zero_copy_only=False)]
    finite = valid[np.isfinite(valid)]
    c = p["x"]
    assert (c.kind, c.type, c.count) == ("numeric", "double", 3000)
    assert c.nulls == t.column("x").null_count
    assert c.nan == np.isnan(valid).sum()
    assert c.inf == np.isinf(valid).sum()
    assert (c.min, c.max) == (finite.min(), finite.max())
    assert close(c.mean, finite.mean()) and close(c.std, finite.std(ddof=1))
    big = t.column("big").to_numpy()
    assert p["big"].min == int(big.min()) and isinstance(p["big"].max, int)
    assert p["city"].kind == "categorical" and p["city"].top(1)[0][0] == "paris"
    assert p["city"].distinct == 5
    assert dict(p["city"].top(5)) == dict(
        zip(*np.unique(t.column("city"), return_counts=True), strict=True)
    )
    assert p["flag"].kind == "categorical" and {v for v, _ in p["flag"].top()} == {"true", "false"}
    assert (
        p["when"].kind == "datetime"
        and p["when"].min == t.column("when").cast(pa.int64()).to_numpy().min()
    )
    assert p["blob"].kind == "other" and p["blob"].distinct is None and p["blob"].count == 3000


def test_quantiles_and_distinct_counts_are_within_the_sketch_bounds_on_a_large_column():
    rng = np.random.default_rng(1)
    values = rng.lognormal(size=300_000)
    p = profile_batches(pa.table({"v": values}).to_batches(max_chunksize=20_000))
    col = p["v"]
    assert col.kll.is_estimation_mode()
    assert_quantiles_within_rank_error(col, values)
    lo, hi = col.distinct_bounds(3)
    assert lo <= len(np.unique(values)) <= hi
    assert abs(col.distinct / 300_000 - 1) < 3 * Hll.rse


def test_datetime_columns_report_iso_extremes_and_dates_count_as_datetimes():
    days = pa.array([0, 19_000, None], type=pa.date32())
    stamps = pa.array([0, 1_700_000_000_000_000_000, None], type=pa.timestamp("ns", tz="UTC"))
    p = profile_batches(pa.table({"d": days, "t": stamps}))
    summary = p["t"].to_dict()["summary"]
    assert (
        summary["min_iso"] == "1970-01-01T00:00:00" and summary["max_iso"] == "2023-11-14T22:13:20"
    )
    assert (
        p["d"].kind == "datetime"
        and p["d"].to_dict()["summary"]["max_iso"] == "2022-01-08T00:00:00"
    )


def test_all_null_columns_and_columns_typed_later_are_profiled():
    first = pa.record_batch({"a": pa.nulls(3), "b": pa.array([1.0, None, 2.0])})
    second = pa.record_batch({"a": pa.array(["x", "y"]), "b": pa.array([3.0, 4.0])})
    p = profile_batches([first, second])
    assert (p["a"].type, p["a"].count, p["a"].nulls, p["a"].distinct) == ("string", 5, 3, 2)
    assert p["b"].finite == 4 and p["b"].mean == 2.5


def test_integers_and_floats_in_one_column_widen_to_double_and_drop_value_counts():
    a = pa.record_batch({"v": pa.array([1, 2, 2])})
    b = pa.record_batch({"v": pa.array([0.5, 2.0])})
    p = profile_batches([a, b])
    assert p["v"].type == "double" and p["v"].finite == 5 and p["v"].top() == []
    assert p["v"].min == 0.5 and p["v"].max == 2


@pytest.mark.parametrize("high", [50_000, 10**12])  # counted by bincount, and by sorting
def test_value_counts_of_a_high_cardinality_batch_keep_guaranteed_bounds(high):
    rng = np.random.default_rng(2)
    n = 200_000
    values = np.where(rng.random(n) < 0.2, 7, rng.integers(0, 50_000, n) * (high // 50_000))
    p = profile_batches(pa.table({"v": values}).to_batches(max_chunksize=65_536))
    col = p["v"]
    assert col.frequent_offset > 0
    assert col.frequency_error <= n * (col.frequent.epsilon + 1 / (REDUCE_TO + 1))
    true = dict(zip(*np.unique(values, return_counts=True), strict=True))
    for item, est, lo, hi in col.frequent_items()[:20]:
        assert lo <= true[int(item)] <= hi, (item, est, lo, hi)
    assert col.top(1)[0][0] == "7"
