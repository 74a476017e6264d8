"""Data sources: a Parquet or CSV path or glob, or a DuckDB SQL query over files; reading them.

A source is a path or glob relative to a root folder (keel.toml's folder, or the current one
for a path given on the command line), or an `SqlSource` whose file paths DuckDB resolves
against that folder. These are the data layer's own types: keel.toml's `[data]` keys are
validated into them by `keel.config`. Every failure is a `DataError` naming the key and the file.

Importing this module is light (no pandas or pyarrow): `keel.config` imports the source types.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from keel.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Source", "SqlSource", "describe", "read_frame", "read_table", "resolve_paths"]

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class SqlSource:
    """A DuckDB SQL query over files; relative file paths resolve against the root folder."""

    sql: str


Source: TypeAlias = str | SqlSource
"""A data source: a path or glob (relative to a root folder), or an SQL query."""


def describe(source: Source) -> str:
    """A short, user-facing description of a source."""
    return f'{{ sql = "{source.sql}" }}' if isinstance(source, SqlSource) else f'"{source}"'


def resolve_paths(source: str, root: Path, *, key: str) -> list[Path]:
    """The files a path or glob names, relative to `root`, sorted."""
    pattern = Path(source) if Path(source).is_absolute() else root / source
    if glob.has_magic(str(pattern)):
        paths = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))
    else:
        paths = [pattern] if pattern.exists() else []
    paths = [p for p in paths if p.is_file()]
    if not paths:
        raise DataError(f'{key} = "{source}": no file found at {pattern}')
    return paths


def _format(path: Path, key: str) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{key}: {path}: unknown format {path.suffix or '(no suffix)'!r}; "
            'expected .parquet or .csv, or an SQL table { sql = "..." }'
        )
    return fmt


def _read_file(path: Path, key: str, encoding: str = "utf-8") -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    fmt = _format(path, key)
    try:
        if fmt == "parquet":
            return pq.read_table(path)
        table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding=encoding))
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{key}: {path}: cannot be read as {fmt}: {exc}") from None
    _refuse_undecoded(table, path, key, encoding)
    return table


def _refuse_undecoded(table: pa.Table, path: Path, key: str, encoding: str) -> None:
    """A CSV column read as raw bytes means its text is not in `encoding`: say where."""
    import pyarrow as pa

    for name, column in zip(table.column_names, table.columns, strict=True):
        if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
            continue
        row = next(
            (i for i, v in enumerate(column.to_pylist()) if v is not None and not _decodes(v)),
            None,
        )
        where = f"row {row + 2} (counting the header as row 1)" if row is not None else "a row"
        section = key.removeprefix("keel.toml: ").split("]")[0].strip("[") if "[" in key else ""
        hint = (
            f'set [{section}] encoding = "latin-1" (or the file\'s encoding) in keel.toml'
            if section
            else "re-encode the file as UTF-8"
        )
        raise DataError(
            f'{key}: {path}: column "{name}", {where}: text is not valid {encoding}; {hint}'
        )


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_table(source: Source, root: Path, *, key: str, encoding: str = "utf-8") -> pa.Table:
    """Read a source into one Arrow table (CSV text decoded from `encoding`)."""
    import pyarrow as pa

    if isinstance(source, SqlSource):
        return _read_sql(source.sql, root, key=key)
    tables = [_read_file(p, key, encoding) for p in resolve_paths(source, root, key=key)]
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:
        raise DataError(f'{key} = "{source}": files do not share one schema: {exc}') from None


def _read_sql(sql: str, root: Path, *, key: str) -> pa.Table:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET file_search_path = ?", [str(root)])
        relation = con.sql(sql)
        if relation is None:
            raise DataError(f"{key} = {{ sql = {sql!r} }}: the statement returns no rows")
        fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table  # 1.x
        return fetch()
    except duckdb.Error as exc:
        raise DataError(f"{key} = {{ sql = {sql!r} }}: query failed: {exc}") from None
    finally:
        con.close()


def read_frame(source: Source, root: Path, *, key: str, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a source into a pandas DataFrame, refusing an empty one."""
    table = read_table(source, root, key=key, encoding=encoding)
    if table.num_rows == 0:
        raise DataError(f"{key} = {describe(source)}: the data is empty (0 rows)")
    return table.to_pandas()


def labels_arrived(source: Source, root: Path) -> bool:
    """Whether a late-labels source has anything to read yet: a path or glob that matches no
    file means no label has arrived (labels come after serving); an SQL source always reads."""
    if not isinstance(source, str):
        return True
    pattern = Path(source) if Path(source).is_absolute() else root / source
    if glob.has_magic(str(pattern)):
        return any(Path(p).is_file() for p in glob.glob(str(pattern), recursive=True))
    return pattern.is_file()
