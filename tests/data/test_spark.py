"""Profiles and validation on Spark (keel.data.spark) equal the local engine's on the same data."""

import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from profiles import (
    assert_quantiles_within_rank_error,
    close,
    exact_columns,
    finite_values,
    table,
)

from keel.data.batches import iter_batches
from keel.data.profile import profile_batches
from keel.data.profiling import profile_source
from keel.data.schema import Feature, Range, Schema, validate
from keel.data.sources import read_table
from keel.data.spark import profile_frame, read_source, require_pyspark, validate_frame
from keel.errors import DataError, KeelError

pytestmark = pytest.mark.spark


def _written(tmp_path, t: pa.Table, name: str = "data.parquet", row_group: int = 700):
    pq.write_table(t, tmp_path / name, row_group_size=row_group)
    return name


def _assert_same_profile(local, spark_profile, t):
    """Exact statistics identical; mean/std to rounding; sketches within their bounds."""
    assert spark_profile.rows == local.rows
    assert exact_columns(spark_profile) == exact_columns(local)
    for name, lo in local.columns.items():
        sp = spark_profile.columns[name]
        assert close(sp.mean, lo.mean) and close(sp.std, lo.std), name
        if lo.kll is not None and lo.finite:
            assert_quantiles_within_rank_error(sp, finite_values(t, name))
        if lo.hll is not None:
            low, high = sp.distinct_bounds(3)
            assert low <= (lo.distinct or 0) <= high, name


@pytest.mark.parametrize("partitions", [1, 2, 5])
def test_a_spark_profile_equals_the_local_profile_whatever_the_partitions(
    spark, tmp_path, partitions
):
    t = table(3_000, seed=partitions).drop(["blob"])  # Spark reads no binary into Arrow alike
    name = _written(tmp_path, t)
    local = profile_source(name, tmp_path, key="DATA", workers=1)
    frame = read_source(spark, name, tmp_path, key="DATA").repartition(partitions)
    _assert_same_profile(local, profile_frame(frame, source="d"), t)


def test_nanosecond_timestamps_as_pandas_writes_them_profile_as_the_local_engine_does(
    spark, tmp_path
):
    start = np.datetime64("2025-01-01T00:00:00", "ns")
    times = pa.table(
        {
            "at": pa.array(start + np.arange(500) * 37 * 60 * 10**9 + 1, pa.timestamp("ns")),
            "utc": pa.array(start + np.arange(500) * 3600 * 10**9, pa.timestamp("ns", "UTC")),
            "ms": pa.array(start + np.arange(500) * 10**6, pa.timestamp("ns")).cast(
                pa.timestamp("ms")
            ),
            "v": np.arange(500.0),
        }
    )
    pq.write_table(times, tmp_path / "times.parquet")  # as pandas writes them
    local = profile_source("times.parquet", tmp_path, key="k", workers=1)
    spark_profile = profile_frame(read_source(spark, "times.parquet", tmp_path, key="k"))
    assert exact_columns(spark_profile) == exact_columns(local)
    assert spark_profile["at"].kind == "datetime" and spark_profile["at"].type == "timestamp[ns]"
    assert spark_profile["ms"].type == "timestamp[ms]"


def test_a_folder_of_parquet_parts_reads_as_one_data_set(spark, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    t = table(900, seed=3).drop(["blob", "when"])
    for i in range(3):
        pq.write_table(t.slice(300 * i, 300), folder / f"part-{i}.parquet")
    profile = profile_frame(read_source(spark, "parts", tmp_path, key="DATA"))
    assert profile.rows == 900 and profile["n"].nulls == t.column("n").null_count


def test_the_spark_profile_of_empty_data_is_a_clear_error(spark, tmp_path):
    name = _written(tmp_path, table(10).drop(["blob"]).slice(0, 0))
    with pytest.raises(DataError, match="empty"):
        profile_frame(read_source(spark, name, tmp_path, key="DATA"))


def test_reading_a_missing_or_csv_source_names_the_key_and_what_is_expected(spark, tmp_path):
    with pytest.raises(DataError, match=r"\[data\] train.*no file found"):
        read_source(spark, "nothing.parquet", tmp_path, key="[data] train")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DataError, match=r"DATA.*not CSV.*convert it to Parquet"):
        read_source(spark, "a.csv", tmp_path, key="DATA")
    with pytest.raises(DataError, match=r"table:nowhere.*Spark cannot read it"):
        read_source(spark, "table:nowhere", tmp_path, key="DATA")


def _schema() -> Schema:
    return Schema(
        features={
            "x": Feature(type="float", range=Range(min=-1, max=8)),
            "n": Feature(type="int", presence=0.99),
            "city": Feature(type="string", domain=["paris", "rome", "oslo"]),
            "flag": Feature(type="bool"),
            "label": Feature(type="int", absent_in=["serving"]),
        }
    )


def test_spark_validation_counts_the_same_anomalies_as_local_validation(spark, tmp_path):
    t = table(4_000, seed=7).drop(["blob"])
    name = _written(tmp_path, t)
    local = validate(iter_batches(name, tmp_path, key="DATA"), _schema())
    frame = read_source(spark, name, tmp_path, key="DATA").repartition(3)
    remote = validate_frame(frame, _schema())
    assert {(a.column, a.kind, a.count) for a in remote} == {
        (a.column, a.kind, a.count) for a in local
    }
    kinds = {(a.column, a.kind) for a in remote}
    # the faulty data set: every kind of anomaly the table holds is found
    assert {("x", "nan"), ("x", "inf"), ("x", "out_of_range"), ("n", "low_presence")} <= kinds
    assert {("city", "out_of_domain"), ("label", "missing_column")} <= kinds
    assert ("big", "unexpected_column") in kinds
    assert validate_frame(frame, _schema(), environment="serving") != remote


def test_spark_validation_of_conforming_data_finds_nothing(spark, tmp_path):
    frame = pd.DataFrame({"x": [0.5, 1.5], "city": ["rome", "oslo"]})
    frame.to_parquet(tmp_path / "ok.parquet")
    schema = Schema(
        features={
            "x": Feature(type="float"),
            "city": Feature(type="string", domain=["rome", "oslo"]),
        }
    )
    assert validate_frame(read_source(spark, "ok.parquet", tmp_path, key="k"), schema) == []


def test_without_pyspark_asking_for_spark_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if it were not installed
    with pytest.raises(KeelError, match=r"pip install 'keel\[spark\]'"):
        require_pyspark()


def test_an_sql_source_of_keel_toml_is_read_as_duckdb_reads_it_and_profiled_alike(spark, tmp_path):
    from keel.data.sources import SqlSource

    t = table(1_000, seed=11).drop(["blob"])
    _written(tmp_path, t, "all.parquet")
    query = SqlSource("SELECT * FROM 'all.parquet' WHERE n IS NULL OR n < 500")
    local = profile_batches(read_table(query, tmp_path, key="[data] train"))
    remote = profile_frame(read_source(spark, query, tmp_path, key="[data] train"))
    assert exact_columns(remote) == exact_columns(local)
    assert remote["when"].type == "timestamp[us]"


def test_nanosecond_timestamps_spark_cannot_read_get_a_way_out(spark, tmp_path):
    start = np.datetime64("2025-01-01T00:00:00", "ns")
    pq.write_table(pa.table({"t": pa.array([start], pa.timestamp("ns"))}), tmp_path / "ns.parquet")
    remote = f"file://{tmp_path / 'ns.parquet'}"  # a URI: its files are not looked into first
    with pytest.raises(DataError, match=r"nanoseconds.*coerce_timestamps='us'"):
        read_source(spark, remote, tmp_path, key="DATA")
