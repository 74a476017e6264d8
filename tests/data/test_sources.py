"""Data sources (keel.data.sources): the data layer's own types, light to import, and read."""

import dataclasses
import subprocess
import sys

import pandas as pd
import pytest

from keel.data.sources import SqlSource, describe, read_frame, resolve_paths
from keel.errors import DataError

KEY = "keel.toml: [data] train"


def test_a_source_is_a_path_or_a_frozen_sql_source_described_as_keel_toml_writes_it():
    sql = SqlSource(sql="SELECT * FROM 't.parquet'")
    assert sql == SqlSource("SELECT * FROM 't.parquet'") and hash(sql) == hash(SqlSource(sql.sql))
    with pytest.raises(dataclasses.FrozenInstanceError):
        sql.sql = "SELECT 1"  # type: ignore[misc]
    assert describe(sql) == "{ sql = \"SELECT * FROM 't.parquet'\" }"
    assert describe("data/*.csv") == '"data/*.csv"'


def test_importing_the_source_types_loads_neither_pandas_nor_pyarrow():
    code = (
        "import sys, keel.data.sources; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'pyarrow', 'duckdb'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_paths_globs_and_sql_read_into_the_same_frame(tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    frame.iloc[:2].to_parquet(tmp_path / "p1.parquet")
    frame.iloc[2:].to_parquet(tmp_path / "p2.parquet")
    assert [p.name for p in resolve_paths("p*.parquet", tmp_path, key=KEY)] == [
        "p1.parquet",
        "p2.parquet",
    ]
    by_glob = read_frame("p*.parquet", tmp_path, key=KEY)
    by_sql = read_frame(SqlSource("SELECT * FROM 'p*.parquet' ORDER BY a"), tmp_path, key=KEY)
    pd.testing.assert_frame_equal(by_glob, frame)
    pd.testing.assert_frame_equal(by_sql, frame)
    with pytest.raises(DataError, match=r'train = "none.csv": no file found'):
        read_frame("none.csv", tmp_path, key=KEY)
    with pytest.raises(DataError, match=r"train = \{ sql = .*nope.parquet.* \}: query failed"):
        read_frame(SqlSource("SELECT * FROM 'nope.parquet'"), tmp_path, key=KEY)
