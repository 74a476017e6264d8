"""Logged JSON objects (a record's `inputs`, `model_inputs`, `probabilities`) as typed columns,
cut apart by the compiled scan rather than parsed (`keel.log._scan.split`).

Objects written by one server have the same fields in the same order, minified, each field
one plain kind: numbers, booleans or text. Such a column is cut into one JSON text per field
and object in a single pass that checks every value is one complete JSON value, and each
field's texts are then typed as `pyarrow.json` types them (integers as int64, numbers with a
point or an exponent as float64, text, booleans; a field null in every object as null), so the
table is the one `pyarrow.json.read_json` reads from the same lines. Anything else (fields that
vary, nested values, kinds mixed, text with escapes or that `pyarrow.json` might read as a time,
integers past 64 bits, or no compiled scan) gives None, and the caller parses the texts.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.log._spans import _scan, field_columns, field_keys

_PLAIN = re.compile(r'[^"\\\x00-\x1f]+\Z')  # a key that stands for itself inside quotes


def object_columns(texts: pa.Array) -> pa.Table | None:
    """The JSON objects of `texts` (no nulls) as the table `pyarrow.json` reads from them, one
    column per field in the first object's order; None when they are not all laid out alike
    or a field's kind needs the parser (see the module docstring)."""
    if _scan is None or len(texts) == 0 or texts.null_count:
        return None
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        return None
    try:
        first = json.loads(texts[0].as_py())
    except ValueError:
        return None
    if not isinstance(first, dict) or not first or not all(_PLAIN.match(n) for n in first):
        return None
    _, offsets_buffer, data_buffer = texts.buffers()
    if data_buffer is None:
        return None
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, width, len(texts) + 1, texts.offset * width().itemsize)
    names = list(first)
    found = _scan.split(data_buffer, offsets.astype(np.int64, copy=False), 0, field_keys(names))
    if found is None:
        return None
    columns = {}
    arrays = field_columns(found, len(texts))
    for name, column, (at, text, _, _) in zip(names, arrays, found, strict=True):
        typed = _typed(column, np.frombuffer(at, np.int32), text)
        if typed is None:
            return None
        columns[name] = typed
    return pa.table(columns)


_DIGITS = np.zeros(256, bool)
_DIGITS[list(b"0123456789")] = True
_NUMBER_HEADS = set(b"-0123456789")


def _typed(column: pa.StringArray, at: np.ndarray, text: bytes) -> pa.Array | None:
    """One field's JSON texts (`column`: its offsets `at` and bytes `text`, a null empty)
    typed as `pyarrow.json` infers them; None when its kind is one the parser must settle."""
    data = np.frombuffer(text, np.uint8)
    starts = at[:-1][at[1:] > at[:-1]]
    if len(starts) == 0:
        return pa.nulls(len(column))
    kinds = set(np.flatnonzero(np.bincount(data[starts], minlength=256)).tolist())
    if kinds == {ord('"')}:  # text: plain (no escapes), nothing pyarrow.json might read as a time
        if text.find(b"\\") >= 0 or _DIGITS[data[starts + 1]].any():
            return None
        return pc.utf8_slice_codeunits(column, 1, -1)
    if kinds <= {ord("t"), ord("f")}:
        return pc.equal(column, "true")
    if not kinds <= _NUMBER_HEADS:
        return None  # kinds mixed, or nested values: the parser settles those
    try:
        if any(text.find(c) >= 0 for c in (b".", b"e", b"E")):
            return pc.cast(column, pa.float64())
        return pc.cast(column, pa.int64())
    except pa.ArrowInvalid:  # an integer past 64 bits
        return None
