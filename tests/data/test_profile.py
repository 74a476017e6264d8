import json
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keel.data._parallel as parallel_module
from keel.data._hll import Hll
from keel.data.profile import (
    REDUCE_TO,
    ColumnProfile,
    Profile,
    merge,
    profile_batches,
    profile_source,
    read_profile,
    write_profile,
)
from keel.data.sources import SqlSource
from keel.errors import DataError

KEY = "keel.toml: [data] train"


def table(n: int, *, seed: int = 0) -> pa.Table:
    """Every kind of column, with nulls, NaN and infinities where they can occur."""
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    cities = np.array(["paris", "rome", "oslo", "lima", "kyiv"], dtype=object)
    return pa.table(
        {
            "x": pa.array(x, mask=rng.random(n) < 0.05),
            "n": pa.array(rng.integers(-50, 1000, n), mask=rng.random(n) < 0.03),
            "big": pa.array(rng.integers(0, 10**12, n)),
            "city": pa.array(cities[rng.choice(5, n, p=[0.6, 0.1, 0.1, 0.1, 0.1])]),
            "id": pa.array([f"u{i}" for i in rng.integers(0, 10 * n, n)]),
            "flag": pa.array(rng.random(n) < 0.3),
            "when": pa.array(
                np.datetime64("2024-01-01T00:00:00", "us") + rng.integers(0, 10**12, n),
                type=pa.timestamp("us"),
            ),
            "blob": pa.array([b"x"] * n),
        }
    )


def exact_columns(p: Profile) -> dict:
    return {
        name: (c.type, c.kind, c.count, c.nulls, c.nan, c.inf, c.finite, c.min, c.max)
        for name, c in p.columns.items()
    }


def comparable(p: Profile) -> str:
    """A profile's JSON, frequent-value sketches as their items (their bytes follow a hash map)."""
    data = p.to_dict()
    for name, col in data["columns"].items():
        if "frequent" in col["sketches"]:
            col["sketches"]["frequent"] = sorted(p[name].frequent_items())
    return json.dumps(data)


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def finite_values(t: pa.Table, name: str) -> np.ndarray:
    col = t.column(name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    v = col.drop_null().to_numpy().astype(np.float64)
    return v[np.isfinite(v)]


def assert_quantiles_within_rank_error(col: ColumnProfile, values: np.ndarray) -> None:
    """Each quantile the sketch gives has a rank in the exact data within the rank error."""
    values = np.sort(values)
    eps = col.rank_error
    for q, x in zip(
        (0.05, 0.25, 0.5, 0.75, 0.95), col.quantiles((0.05, 0.25, 0.5, 0.75, 0.95)), strict=True
    ):
        below = np.searchsorted(values, x, "left") / len(values)
        at_most = np.searchsorted(values, x, "right") / len(values)
        assert below - eps <= q <= at_most + eps, (col.name, q, x, below, at_most, eps)


# -- the profile of a whole ------------------------------------------------------------------


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


# -- merging: the profiles of any split merge into the profile of the whole -------------------


@st.composite
def splits(draw):
    n = draw(st.integers(2, 600))
    seed = draw(st.integers(0, 2**32 - 1))
    parts = draw(st.integers(2, 5))
    cuts = sorted(draw(st.lists(st.integers(1, n - 1), min_size=parts - 1, max_size=parts - 1)))
    sizes = draw(st.lists(st.integers(1, 300), min_size=parts, max_size=parts))
    return n, seed, [0, *cuts, n], sizes


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(splits())
def test_profiles_of_any_split_merge_into_the_profile_of_the_whole(case):
    n, seed, bounds, sizes = case
    t = table(n, seed=seed)
    whole = profile_batches(t, source="t")
    parts = [
        profile_batches(t.slice(lo, hi - lo).to_batches(max_chunksize=size), source="t")
        for lo, hi, size in zip(bounds[:-1], bounds[1:], sizes, strict=True)
        if hi > lo
    ]
    merged = parts[0]
    for part in parts[1:]:
        merged = merge(merged, part)
    assert merged.rows == whole.rows == n
    assert exact_columns(merged) == exact_columns(whole)
    for name, w in whole.columns.items():
        m = merged.columns[name]
        assert close(m.mean, w.mean) and close(m.std, w.std), name
        if w.kll is not None and w.finite:
            assert_quantiles_within_rank_error(m, finite_values(t, name))
        if isinstance(w.hll, Hll):
            assert m.distinct == w.distinct  # registers merge by maximum: bit for bit
        elif w.hll is not None:
            truth = len(set(t.column(name).drop_null().to_pylist()))
            lo, hi = m.distinct_bounds(3)
            assert lo <= truth <= hi, name
    counts = t.column("city").value_counts().to_pylist()
    counts = sorted((d["counts"], d["values"]) for d in counts)
    if len(counts) == 1 or counts[-1][0] > 2 * counts[-2][0]:
        assert merged["city"].top(1)[0][0] == counts[-1][1]


def test_merge_leaves_its_inputs_unchanged_and_profile_merge_is_the_same():
    a, b = profile_batches(table(100, seed=1)), profile_batches(table(50, seed=2))
    before = comparable(a)
    both = a.merge(b)
    assert comparable(a) == before
    assert both.rows == 150 and both.batches == 2 and both["x"].count == 150


def test_streaming_in_small_batches_gives_the_exact_statistics_of_one_big_batch(tmp_path):
    t = table(5000, seed=3)
    pq.write_table(t, tmp_path / "t.parquet", row_group_size=1500)
    small = profile_source("t.parquet", tmp_path, key=KEY, batch_size=97, workers=1)
    big = profile_source("t.parquet", tmp_path, key=KEY, batch_size=1_000_000, workers=1)
    assert small.batches > 50 and big.batches == 4  # a batch never spans row groups
    assert exact_columns(small) == exact_columns(big)
    for name in t.column_names:
        assert close(small[name].mean, big[name].mean) and close(small[name].std, big[name].std)
        if small[name].kind != "numeric" or name == "x":
            assert small[name].distinct == big[name].distinct or name in ("id",)


def test_merging_profiles_of_a_column_of_mixed_types_names_the_column():
    a = profile_batches(pa.table({"v": [1, 2]}), source="a.parquet")
    b = profile_batches(pa.table({"v": ["x", "y"]}), source="b.parquet")
    with pytest.raises(DataError, match=r"column 'v' is int64 in one part and string"):
        merge(a, b)
    with pytest.raises(DataError, match=r"w only in b.parquet"):
        merge(a, profile_batches(pa.table({"v": [1], "w": [2]}), source="b.parquet"))


def test_a_column_of_mixed_types_across_batches_names_the_column():
    batches = [pa.record_batch({"v": [1, 2]}), pa.record_batch({"v": ["x", "y"]})]
    with pytest.raises(DataError, match=r"src: column 'v' holds int64 .* string in batch 2"):
        profile_batches(batches, source="src")


def test_empty_data_is_an_error():
    with pytest.raises(DataError, match=r"src: the data is empty \(0 rows\)"):
        profile_batches(pa.table({"v": pa.array([], pa.int64())}), source="src")
    with pytest.raises(DataError, match="empty"):
        profile_batches([])


# -- files and sources -----------------------------------------------------------------------


def test_a_profile_survives_a_round_trip_through_json(tmp_path):
    p = profile_batches(table(2000, seed=4), source='"t.parquet"')
    back = read_profile(write_profile(p, tmp_path / "p.json"))
    assert comparable(back) == comparable(p)
    assert back.source == '"t.parquet"' and back.rows == 2000
    assert back["city"].top(2) == p["city"].top(2)
    assert back["x"].quantiles([0.5]) == p["x"].quantiles([0.5])


def test_profiles_merge_through_files_as_keel_profile_merge_does(tmp_path):
    t = table(1000, seed=5)
    write_profile(profile_batches(t.slice(0, 400)), tmp_path / "a.json")
    write_profile(profile_batches(t.slice(400)), tmp_path / "b.json")
    merged = merge(read_profile(tmp_path / "a.json"), read_profile(tmp_path / "b.json"))
    write_profile(merged, tmp_path / "c.json")
    assert exact_columns(read_profile(tmp_path / "c.json")) == exact_columns(profile_batches(t))


def test_reading_a_missing_damaged_or_foreign_profile_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such profile"):
        read_profile(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not a Keel profile: not valid JSON"):
        read_profile(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "whylogs"}')
    with pytest.raises(DataError, match="other.json: not a Keel profile"):
        read_profile(tmp_path / "other.json")
    data = profile_batches(table(10)).to_dict()
    data["columns"]["x"]["sketches"]["kll"] = "AAAA"
    (tmp_path / "damaged.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="damaged.json: not a Keel profile, or a damaged one"):
        read_profile(tmp_path / "damaged.json")


def test_writing_a_profile_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    path.write_text("old")
    p = profile_batches(table(10))

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("keel.atomic.os.fsync", broken)
    with pytest.raises(DataError, match="cannot write the profile: No space left"):
        write_profile(p, path)
    assert path.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["p.json"]


def test_csv_parquet_and_sql_sources_give_the_same_exact_statistics(tmp_path):
    t = table(3000, seed=6).drop_columns(["blob", "when", "x"])
    pq.write_table(t, tmp_path / "t.parquet")
    pacsv.write_csv(t, tmp_path / "t.csv")
    parquet = profile_source("t.parquet", tmp_path, key=KEY, workers=1)
    csv = profile_source("t.csv", tmp_path, key=KEY, workers=1)
    sql = profile_source(SqlSource(sql="SELECT * FROM 't.parquet'"), tmp_path, key=KEY)
    assert exact_columns(parquet) == exact_columns(sql)
    strip = {n: v[2:] for n, v in exact_columns(parquet).items()}  # CSV infers its own types
    assert strip == {n: v[2:] for n, v in exact_columns(csv).items()}
    assert parquet.source == '"t.parquet"' and sql.source.startswith("{ sql =")


def test_profiling_in_several_processes_gives_what_one_process_gives(tmp_path, monkeypatch):
    t = table(20_000, seed=7)
    pq.write_table(t.slice(0, 12_000), tmp_path / "a.parquet")
    pq.write_table(t.slice(12_000), tmp_path / "b.parquet")
    monkeypatch.setattr(parallel_module, "PARALLEL_MIN_ROWS", 0)
    one = profile_source("*.parquet", tmp_path, key=KEY, workers=1, batch_size=4096)
    two = profile_source("*.parquet", tmp_path, key=KEY, workers=2, batch_size=4096)
    assert list(two.columns) == t.column_names
    assert (two.rows, two.batches) == (one.rows, one.batches)
    assert exact_columns(two) == exact_columns(one)
    for name in t.column_names:
        assert close(two[name].mean, one[name].mean) and two[name].top(3) == one[name].top(3)
        if isinstance(one[name].hll, Hll):
            assert two[name].distinct == one[name].distinct


def test_several_csv_files_are_profiled_in_several_processes(tmp_path, monkeypatch):
    t = table(6000, seed=8).drop_columns(["blob", "when"])
    for i in range(3):
        pacsv.write_csv(t.slice(2000 * i, 2000), tmp_path / f"part{i}.csv")
    monkeypatch.setattr(parallel_module, "PARALLEL_MIN_CSV_BYTES", 0)
    one = profile_source("part*.csv", tmp_path, key=KEY, workers=1)
    two = profile_source("part*.csv", tmp_path, key=KEY, workers=2)
    assert exact_columns(two) == exact_columns(one) and two.rows == 6000


@pytest.mark.parametrize(
    ("setup", "source", "message"),
    [
        (None, "missing.parquet", r'\[data\] train = "missing.parquet": no file found'),
        ("notes.txt", "notes.txt", r"notes.txt: unknown format '.txt'"),
        ("broken.parquet", "broken.parquet", r"broken.parquet: cannot be read as parquet"),
        ("empty.parquet", "empty.parquet", r'train = "empty.parquet": the data is empty'),
        ("header.csv", "header.csv", r'train = "header.csv": the data is empty'),
    ],
)
def test_bad_sources_are_a_data_error_naming_the_key_and_the_file(tmp_path, setup, source, message):
    if setup == "notes.txt":
        (tmp_path / setup).write_text("hello")
    elif setup == "broken.parquet":
        (tmp_path / setup).write_bytes(b"PAR1 this is not parquet")
    elif setup == "empty.parquet":
        pq.write_table(pa.table({"v": pa.array([], pa.int64())}), tmp_path / setup)
    elif setup == "header.csv":
        (tmp_path / setup).write_text("a,b\n")
    with pytest.raises(DataError, match=message):
        profile_source(source, tmp_path, key=KEY)


def test_a_column_of_mixed_types_across_files_names_both_files_and_the_column(tmp_path):
    pq.write_table(pa.table({"v": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"v": ["x", "y"]}), tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"column 'v' is int64 in .*a.parquet but string in .*b"):
        profile_source("*.parquet", tmp_path, key=KEY)


def test_the_workers_parameter_is_checked():
    with pytest.raises(ValueError, match="'workers' parameter of profile_source"):
        profile_source("x.parquet", Path("."), key=KEY, workers=0)


def test_columns_of_a_worker_that_dies_are_profiled_by_the_parent(tmp_path, monkeypatch):
    t = table(3000, seed=9)
    pq.write_table(t, tmp_path / "t.parquet")
    monkeypatch.setattr(parallel_module, "PARALLEL_MIN_ROWS", 0)

    def dies(job, units, counter, results):
        parallel_module._claim(counter, len(units))  # takes a column, then is gone
        os._exit(1)

    monkeypatch.setattr(parallel_module, "_worker", dies)
    p = profile_source("t.parquet", tmp_path, key=KEY, workers=2)
    assert exact_columns(p) == exact_columns(profile_batches(t))
