import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from keel.data.batches import iter_batches, source_schema
from keel.data.sources import SqlSource
from keel.errors import DataError

KEY = "keel.toml: [data] train"


def frame(n: int, start: int = 0) -> pa.Table:
    rng = np.random.default_rng(start)
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n)),
            "x": pa.array(rng.normal(size=n)),
            "city": pa.array(rng.choice(["paris", "rome", "oslo"], n)),
        }
    )


def collect(*args, **kwargs) -> tuple[list[int], pa.Table]:
    batches = list(iter_batches(*args, **kwargs))
    return [b.num_rows for b in batches], pa.Table.from_batches(batches)


def test_parquet_is_streamed_in_batches_no_larger_than_the_batch_size(tmp_path):
    pq.write_table(frame(10_000), tmp_path / "t.parquet", row_group_size=3000)
    sizes, t = collect("t.parquet", tmp_path, key=KEY, batch_size=1024)
    assert max(sizes) <= 1024 and sum(sizes) == 10_000
    assert t.equals(frame(10_000))


def test_a_glob_of_parquet_files_is_read_in_file_order_with_the_columns_asked_for(tmp_path):
    pq.write_table(frame(300, 0), tmp_path / "part-0.parquet")
    pq.write_table(frame(200, 300), tmp_path / "part-1.parquet")
    _, t = collect("part-*.parquet", tmp_path, key=KEY, columns=["city", "id"])
    assert t.column_names == ["city", "id"]
    assert t.column("id").to_pylist() == list(range(500))


def test_string_columns_can_be_read_dictionary_encoded(tmp_path):
    pq.write_table(frame(100), tmp_path / "t.parquet")
    batch = next(iter_batches("t.parquet", tmp_path, key=KEY, dictionary=True))
    assert pa.types.is_dictionary(batch.schema.field("city").type)
    assert batch.column("city").dictionary_decode().equals(frame(100).column("city").chunk(0))


def test_csv_is_streamed_in_bounded_batches(tmp_path):
    pacsv.write_csv(frame(50_000), tmp_path / "t.csv")
    sizes, t = collect("t.csv", tmp_path, key=KEY, batch_size=4096)
    assert max(sizes) <= 4096 and sum(sizes) == 50_000 and len(sizes) >= 13
    assert t.column("id").to_pylist() == list(range(50_000))


def test_sql_reads_files_relative_to_the_config_folder_in_batches(tmp_path):
    pq.write_table(frame(5000), tmp_path / "t.parquet")
    sql = SqlSource(sql="SELECT id, city FROM 't.parquet' WHERE city = 'rome'")
    sizes, t = collect(sql, tmp_path, key=KEY, batch_size=500)
    expected = frame(5000).filter(pa.compute.equal(frame(5000).column("city"), "rome"))
    assert max(sizes) <= 500 and t.num_rows == expected.num_rows
    assert sorted(t.column("id").to_pylist()) == expected.column("id").to_pylist()
    assert source_schema(sql, tmp_path, key=KEY).names == ["id", "city"]


def test_a_failing_query_is_a_data_error_naming_the_key(tmp_path):
    with pytest.raises(DataError, match=r"train = \{ sql = .*\}: query failed"):
        list(iter_batches(SqlSource(sql="SELECT * FROM 'nope.parquet'"), tmp_path, key=KEY))


def test_integer_and_float_files_of_one_glob_widen_to_float(tmp_path):
    pq.write_table(pa.table({"v": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"v": [0.5]}), tmp_path / "b.parquet")
    assert source_schema("*.parquet", tmp_path, key=KEY).field("v").type == pa.float64()
    _, t = collect("*.parquet", tmp_path, key=KEY)
    assert t.column("v").to_pylist() == [1.0, 2.0, 0.5]


def test_files_of_a_glob_with_other_columns_are_named_both(tmp_path):
    pq.write_table(pa.table({"v": [1], "w": [1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"v": [1]}), tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"a.parquet and .*b.parquet do not have the same columns"):
        list(iter_batches("*.parquet", tmp_path, key=KEY))


def test_a_column_of_mixed_types_across_files_names_both_files(tmp_path):
    pq.write_table(pa.table({"v": [1]}), tmp_path / "a.parquet")
    pacsv.write_csv(pa.table({"v": ["x"]}), tmp_path / "b.csv")
    with pytest.raises(
        DataError, match=r"column 'v' is int64 in .*a.parquet but string in .*b.csv"
    ):
        list(iter_batches("*.*", tmp_path, key=KEY))


def test_a_csv_column_of_mixed_types_names_the_file_and_the_column(tmp_path):
    rows = [str(i) for i in range(30_000)] + ["thirty thousand"]
    (tmp_path / "t.csv").write_text("n\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"t.csv: column 'n' holds values of mixed types"):
        list(iter_batches("t.csv", tmp_path, key=KEY, batch_size=1000))


def test_missing_files_unknown_formats_and_unknown_columns_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r'train = "none/\*.parquet": no file found'):
        list(iter_batches("none/*.parquet", tmp_path, key=KEY))
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(DataError, match=r"t.json: unknown format '.json'"):
        list(iter_batches("t.json", tmp_path, key=KEY))
    pq.write_table(frame(3), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"no column 'age'; the columns are id, x, city"):
        list(iter_batches("t.parquet", tmp_path, key=KEY, columns=["age"]))


def test_an_unreadable_file_is_a_data_error_naming_it(tmp_path):
    (tmp_path / "t.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"t.parquet: cannot be read as parquet"):
        list(iter_batches("t.parquet", tmp_path, key=KEY))


def test_the_batch_size_must_be_a_positive_int(tmp_path):
    with pytest.raises(ValueError, match="'batch_size' parameter of iter_batches"):
        list(iter_batches("t.parquet", tmp_path, key=KEY, batch_size=0))
