"""Streaming a data source as Arrow record batches, with memory bounded by the batch size.

A source is what `keel.toml` names (see `keel.data.sources`): a Parquet or CSV path or glob
relative to keel.toml's folder, or a DuckDB SQL table `{ sql = "..." }`. `iter_batches` yields
record batches of at most `batch_size` rows and never holds the whole source in memory:

- Parquet is read row group by row group (`ParquetFile.iter_batches`), only the columns asked
  for, its pages through a 256 KiB buffer and without pre-buffering (which would keep every
  row group read so far in memory). String columns can be read dictionary-encoded, which is
  faster for repeated values.
- CSV is read by Arrow's streaming reader; its block size is set from the bytes per row of the
  file's first rows, so that a block holds about one batch. Column types are inferred from the
  first block: a later value that does not fit (text in a column of numbers) is reported as a
  column of mixed types, naming the file and the column.
- SQL runs in an in-memory DuckDB whose `file_search_path` is keel.toml's folder; the result
  is fetched as a stream of batches.

The files of a glob must share one schema: columns are matched by name, integer and floating
columns may widen (int64 and double read as double), anything else is a `DataError` naming the
two files and the column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from keel.data.sources import Source, SqlSource, _format, describe, resolve_paths
from keel.errors import DataError

__all__ = ["iter_batches", "source_schema"]

_PARQUET_BUFFER = 1 << 18  # bytes read at a time from a Parquet column chunk
_CSV_SAMPLE = 1 << 20  # bytes read to estimate the bytes per CSV row
_CSV_MIN_BLOCK = 1 << 16
_CSV_MAX_BLOCK = 1 << 28


def iter_batches(
    source: Source | Path,
    root: Path,
    *,
    key: str,
    batch_size: int = 65_536,
    columns: list[str] | None = None,
    dictionary: bool = False,
    threads: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Stream a source as record batches of at most `batch_size` rows.

    `key` names the source in error messages (`keel.toml: [data] train`, or a CLI argument).
    `columns` selects and orders columns; `dictionary` reads Parquet string columns
    dictionary-encoded; `threads=False` decodes in this thread only (less memory, and as fast
    when other processes share the cores). Every failure is a `DataError` naming the key,
    the file and what was expected.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(
            f"The 'batch_size' parameter of iter_batches must be a positive int. "
            f"Got {batch_size!r} instead."
        )
    if isinstance(source, SqlSource):
        return _sql_batches(source.sql, root, key=key, batch_size=batch_size, columns=columns)
    # Files are found and their schemas checked now, so a bad source fails at the call.
    paths = resolve_paths(str(source), root, key=key)
    schema = _unified_schema(paths, key=key, batch_size=batch_size)
    _check_columns(schema, columns, key=key, where=paths[0] if len(paths) == 1 else source)
    names = list(columns) if columns is not None else schema.names
    target = pa.schema([schema.field(n) for n in names])
    return _file_batches(paths, target, key, batch_size, dictionary, threads)


def _file_batches(
    paths: list[Path],
    target: pa.Schema,
    key: str,
    batch_size: int,
    dictionary: bool,
    threads: bool,
) -> Iterator[pa.RecordBatch]:
    for path in paths:
        if _format(path, key) == "parquet":
            batches = _parquet_batches(path, key, batch_size, target.names, dictionary, threads)
        else:
            batches = _csv_batches(path, key, batch_size, target.names, threads)
        for batch in batches:
            yield _conform(batch, target, path, key)


def source_schema(source: Source | Path, root: Path, *, key: str) -> pa.Schema:
    """The Arrow schema of a source, read without reading its data (SQL: with LIMIT 0)."""
    if isinstance(source, SqlSource):
        import duckdb

        con = _duckdb(root)
        try:
            relation = con.sql(f"SELECT * FROM ({source.sql}) LIMIT 0")
            fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            return fetch().schema
        except duckdb.Error as exc:
            raise DataError(f"{key} = {describe(source)}: query failed: {exc}") from None
        finally:
            con.close()
    return _unified_schema(resolve_paths(str(source), root, key=key), key=key)


# -- schemas -------------------------------------------------------------------------------------


def _file_schema(path: Path, key: str, batch_size: int) -> pa.Schema:
    fmt = _format(path, key)
    try:
        if fmt == "parquet":
            return pq.read_schema(path)
        # CSV types come from the first block: the same block the stream will infer them from.
        with _open_csv(path, _block_size(path, batch_size)) as reader:
            return reader.schema
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{key}: {path}: cannot be read as {fmt}: {_first_line(exc)}") from None


def _unified_schema(paths: list[Path], *, key: str, batch_size: int = 65_536) -> pa.Schema:
    """One schema for all files, or a DataError naming the first two files that differ."""
    first = paths[0]
    schema = _file_schema(first, key, batch_size)
    for path in paths[1:]:
        other = _file_schema(path, key, batch_size)
        if set(other.names) != set(schema.names):
            only_first = sorted(set(schema.names) - set(other.names))
            only_other = sorted(set(other.names) - set(schema.names))
            detail = "; ".join(
                f"{', '.join(cols)} only in {where}"
                for cols, where in ((only_first, first), (only_other, path))
                if cols
            )
            raise DataError(f"{key}: {first} and {path} do not have the same columns: {detail}")
        fields = []
        for f in schema:
            g = other.field(f.name)
            fields.append(f.with_type(_widen(f.type, g.type, f.name, first, path, key)))
        schema = pa.schema(fields)
    return schema


def _widen(a: pa.DataType, b: pa.DataType, name: str, p: Path, q: Path, key: str) -> pa.DataType:
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(t(a) for t in numeric) and any(t(b) for t in numeric):
        try:
            return (
                pa.unify_schemas(
                    [pa.schema([(name, a)]), pa.schema([(name, b)])], promote_options="permissive"
                )
                .field(name)
                .type
            )
        except pa.ArrowException:
            return pa.float64()
    strings = (pa.string(), pa.large_string(), pa.string_view())
    if _value_type(a) in strings and _value_type(b) in strings:
        return pa.large_string() if pa.large_string() in (a, b) else pa.string()
    raise DataError(
        f"{key}: column {name!r} is {a} in {p} but {b} in {q}: a column of mixed types; "
        "make the files agree, or read them through SQL with a CAST"
    )


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _check_columns(
    schema: pa.Schema, columns: list[str] | None, *, key: str, where: object
) -> None:
    if columns is None:
        return
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DataError(
            f"{key}: {where}: no column {', '.join(map(repr, missing))}; "
            f"the columns are {', '.join(schema.names)}"
        )


def _conform(batch: pa.RecordBatch, target: pa.Schema, path: Path, key: str) -> pa.RecordBatch:
    """The batch with the unified column order and types (a no-op for a single file)."""
    if batch.schema.names == target.names and all(
        batch.schema.field(i).type == f.type or pa.types.is_dictionary(batch.schema.field(i).type)
        for i, f in enumerate(target)
    ):
        return batch
    arrays = []
    for f in target:
        column = batch.column(f.name)
        if column.type != f.type and not pa.types.is_dictionary(column.type):
            try:
                column = column.cast(f.type)
            except pa.ArrowException as exc:
                raise DataError(
                    f"{key}: {path}: column {f.name!r} cannot be read as {f.type}: "
                    f"{_first_line(exc)}"
                ) from None
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=target.names)


# -- Parquet -------------------------------------------------------------------------------------


def _parquet_batches(
    path: Path, key: str, batch_size: int, columns: list[str], dictionary: bool, threads: bool
) -> Iterator[pa.RecordBatch]:
    try:
        schema = pq.read_schema(path)
        strings = [
            f.name
            for f in schema
            if f.name in columns
            and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        ]
        # Pages are read through a small buffer, not a whole column chunk at once, and not
        # pre-buffered (that keeps every row group read so far in memory until the end).
        parquet = pq.ParquetFile(
            path,
            read_dictionary=strings if dictionary else None,
            pre_buffer=False,
            buffer_size=_PARQUET_BUFFER,
        )
        with parquet:
            batches = parquet.iter_batches(
                batch_size=batch_size, columns=columns, use_threads=threads
            )
            for batch in batches:
                if batch.num_rows:
                    yield batch
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{key}: {path}: cannot be read as parquet: {_first_line(exc)}") from None


# -- CSV -----------------------------------------------------------------------------------------

_CSV_COLUMN = re.compile(
    r"In CSV column #(\d+): .*?CSV conversion error to (\S+?):? invalid value '(.*)'"
)


def _block_size(path: Path, batch_size: int) -> int:
    """Bytes per block so that a block holds about `batch_size` rows."""
    with path.open("rb") as f:
        sample = f.read(_CSV_SAMPLE)
    lines = max(sample.count(b"\n"), 1)
    per_row = max(len(sample) / lines, 1.0)
    return int(min(max(per_row * batch_size * 1.1, _CSV_MIN_BLOCK), _CSV_MAX_BLOCK))


def _open_csv(
    path: Path, block_size: int, columns: list[str] | None = None, threads: bool = True
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=block_size, use_threads=threads),
        convert_options=pacsv.ConvertOptions(include_columns=columns),
    )


def _csv_batches(
    path: Path, key: str, batch_size: int, columns: list[str], threads: bool
) -> Iterator[pa.RecordBatch]:
    try:
        reader = _open_csv(path, _block_size(path, batch_size), columns, threads)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{key}: {path}: cannot be read as csv: {_first_line(exc)}") from None
    with reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise DataError(_csv_error(path, key, exc, reader.schema.names)) from None
            for start in range(0, batch.num_rows, batch_size):
                yield batch.slice(start, batch_size)


def _csv_error(path: Path, key: str, exc: Exception, names: list[str]) -> str:
    match = _CSV_COLUMN.search(str(exc))
    if match is None:
        return f"{key}: {path}: cannot be read as csv: {_first_line(exc)}"
    index, kind, value = int(match.group(1)), match.group(2), match.group(3)
    name = names[index] if index < len(names) else f"#{index}"
    return (
        f"{key}: {path}: column {name!r} holds values of mixed types: {value!r} on a later row "
        f"does not fit the type {kind} of its first rows; fix the data, or read it through "
        'SQL with a CAST ({ sql = "SELECT ... FROM read_csv(...)" })'
    )


# -- SQL -----------------------------------------------------------------------------------------


def _duckdb(root: Path):
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET file_search_path = ?", [str(root)])
    return con


def _sql_batches(
    sql: str, root: Path, *, key: str, batch_size: int, columns: list[str] | None
) -> Iterator[pa.RecordBatch]:
    import duckdb

    where = f"{key} = {describe(SqlSource(sql=sql))}"
    con = _duckdb(root)
    try:
        try:
            relation = con.sql(sql)
            if relation is None:
                raise DataError(f"{where}: the statement returns no rows; expected a SELECT")
            fetch = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
            reader = fetch(batch_size)
            if columns is not None:
                _check_columns(reader.schema, columns, key=key, where="the query")
            for batch in reader:
                if columns is not None:
                    batch = batch.select(columns)
                for start in range(0, batch.num_rows, batch_size):
                    yield batch.slice(start, batch_size)
        except (duckdb.Error, pa.ArrowException) as exc:
            raise DataError(f"{where}: query failed: {_first_line(exc)}") from None
    finally:
        con.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
