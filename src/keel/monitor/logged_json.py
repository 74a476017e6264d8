"""Logged JSON objects (a rolled part's `inputs`, `model_inputs`, `probabilities` text) as
Arrow tables, parsed by `pyarrow.json` in bulk, never row by row in Python (the intake's).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

# pyarrow.json in the calling thread: the input columns are parsed in threads of their own,
# and a small column's parse should not wait behind theirs in Arrow's shared pool
_ONE_THREAD = pa_json.ReadOptions(use_threads=False)


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
    try:
        if not pa.types.is_string(present.type) and not pa.types.is_large_string(present.type):
            raise pa.ArrowInvalid("not text")
        table = pa_json.read_json(pa.BufferReader(json_lines(present)), read_options=_ONE_THREAD)
        if table.num_rows != len(present):
            raise pa.ArrowInvalid("not one object per row")
    except pa.ArrowInvalid:  # mixed types across rows: let pandas settle them
        values = [json.loads(t) if isinstance(t, str) else t for t in present.to_pylist()]
        frame = pd.DataFrame([v if isinstance(v, dict) else {} for v in values])
        table = pa.Table.from_pandas(frame, preserve_index=False)
    if len(present) != len(texts):  # rows without the field: nulls in their place
        positions = np.flatnonzero(pc.is_valid(texts).to_numpy(zero_copy_only=False))
        index = np.full(len(texts), -1)
        index[positions] = np.arange(len(present))
        table = table.take(pa.array(np.where(index < 0, None, index), type=pa.int64()))
    return _no_null_columns(_flat(table))


def json_lines(texts: pa.Array | pa.ChunkedArray) -> pa.Buffer:
    """Texts (no nulls) as one newline-delimited buffer, joined by Arrow, not row by row."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    values = texts.cast(pa.large_string())
    one = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    return pc.binary_join(one, pa.scalar("\n", pa.large_string()))[0].as_buffer()


def _flat(table: pa.Table) -> pa.Table:
    """Nested values (lists, structs) as JSON text: profiles take scalar columns."""
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
    columns = [
        pa.array([None] * len(table), pa.string()) if pa.types.is_null(c.type) else c
        for c in table.columns
    ]
    return pa.table(dict(zip(table.column_names, columns, strict=True)))
