"""Logged JSON objects (a rolled part's `inputs`, `model_inputs`, `probabilities` text) as
Arrow tables, parsed by `pyarrow.json` in bulk, never row by row in Python (the intake's).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from keel.log.objects import object_columns

# pyarrow.json in the calling thread: the input columns are parsed in threads of their own,
# and a small column's parse should not wait behind theirs in Arrow's shared pool
_ONE_THREAD = pa_json.ReadOptions(use_threads=False, block_size=4 << 20)


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A logged column as one Arrow array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column


def json_table(texts: pa.Array) -> pa.Table | None:
    """A column of JSON objects (as text) as one Arrow table; None when all are null."""
    texts = _text(texts)
    present = texts.drop_null() if texts.null_count else texts
    if len(present) == 0:
        return None
    table = object_columns(present)  # laid out alike, plain kinds: cut, not parsed
    if table is None:
        table = _parsed(present)
    if len(present) != len(texts):  # rows without the field: nulls in their place
        positions = np.flatnonzero(pc.is_valid(texts).to_numpy(zero_copy_only=False))
        index = np.full(len(texts), -1)
        index[positions] = np.arange(len(present))
        table = table.take(pa.array(np.where(index < 0, None, index), type=pa.int64()))
    return _no_null_columns(_flat(table))


def _parsed(present: pa.Array) -> pa.Table:
    """JSON objects (text, no nulls) parsed by pyarrow.json, else field by field."""
    try:
        if not pa.types.is_string(present.type) and not pa.types.is_large_string(present.type):
            raise pa.ArrowInvalid("not text")
        table = pa_json.read_json(pa.BufferReader(json_lines(present)), read_options=_ONE_THREAD)
        if table.num_rows != len(present):
            raise pa.ArrowInvalid("not one object per row")
        for column in table.columns:  # Arrow's reader can build a list wrongly when an
            if pa.types.is_nested(column.type):  # item is null: [null, null], [null, "0"]
                column.validate(full=True)
    except pa.ArrowInvalid:  # types that vary between rows: settled field by field
        values = [json.loads(t) if isinstance(t, str) else t for t in present.to_pylist()]
        table = _objects_table([v if isinstance(v, dict) else {} for v in values])
    return table


def as_text(value: object) -> str | None:
    """A decoded JSON value as text: text as itself, null as null, anything else its JSON."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _objects_table(objects: list[dict]) -> pa.Table:
    """Decoded JSON objects as a table, one column per field (in the order first met): a
    field's values typed as Arrow infers them (integers with floats as floats), else, where
    their kinds cannot share a type (text and numbers, objects and numbers), each value as its
    JSON text and text as itself."""
    names = list(dict.fromkeys(k for o in objects for k in o))
    columns = {}
    for name in names:
        values = [o.get(name) for o in objects]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # 2**64: as text too
            columns[name] = pa.array([as_text(v) for v in values], pa.string())
    if not columns:  # objects without fields: as many rows, no column
        return pa.table({"_": pa.nulls(len(objects))}).drop_columns(["_"])
    return pa.table(columns)


def json_lines(texts: pa.Array | pa.ChunkedArray) -> pa.Buffer:
    """Texts (no nulls) as one newline-delimited buffer, joined by Arrow, not row by row."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    values = texts.cast(pa.large_string())
    one = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    return pc.binary_join(one, pa.scalar("\n", pa.large_string()))[0].as_buffer()


def _flat(table: pa.Table) -> pa.Table:
    """Nested values (lists, structs) as JSON text: profiles take scalar columns."""
    if not table.num_columns:
        return table
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_nested(column.type):
            values = [None if v is None else json.dumps(v) for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, pa.string())])
        columns.append(column)
    return pa.table(dict(zip(table.column_names, columns, strict=True)))


def _no_null_columns(table: pa.Table) -> pa.Table:
    """A column that is null in every row is typed as text, so profiles of parts merge."""
    if not table.num_columns:
        return table
    columns = [
        pa.array([None] * len(table), pa.string()) if pa.types.is_null(c.type) else c
        for c in table.columns
    ]
    return pa.table(dict(zip(table.column_names, columns, strict=True)))
