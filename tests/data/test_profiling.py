"""Profiling a source (keel.data.profiling): files, globs and SQL, in one process or several."""

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from profiles import close, exact_columns, table

import keel.data._parallel as parallel_module
from keel.data._hll import Hll
from keel.data.profile import profile_batches
from keel.data.profiling import profile_source
from keel.data.sources import SqlSource
from keel.errors import DataError

KEY = "keel.toml: [data] train"


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
