"""Each top-level field's JSON text cut out of the payloads as logged, without a JSON parser.

The roll-up (`keel.log._columnar`) needs every top-level field of every record as its JSON
text, column by column. DuckDB's JSON reader gives that, but it parses each payload and writes
every value back out as new text (the nested `inputs` and `model_inputs` objects most of all):
most of the roll's CPU. A log Keel's server writes has every record's fields in the same order,
minified (`{"k1":v1,"k2":v2,...}`), so each value's text can be cut out of the payload where it
stands: the bytes between `"k_i":` and the `,"k_(i+1)":` that follows. A short value is first
taken as long as it is in the first record, and the records where the next key does not stand
right after that are tried at the length it has in the first of them, a few times over (most
short values have a few lengths: a time, a version, a route); the records left are searched
(Arrow's `find_substring`, from where the value begins). A long value as long, in the first
record, as an earlier one (`model_inputs` logged beside the `inputs` they equal) is first taken
as long as that one in every record; other long values are searched for with RE2. Nothing is
re-written: the text stored is the text logged.

A cut is trusted only when every piece holds: each payload starts with `{"k1":` and ends with
`}`, each key `k_(i+1)` follows `k_i` inside the same payload, and every value cut out is one
complete JSON value: scalars (numbers, strings, true, false, null) checked by one anchored
regular expression, objects and arrays by DuckDB's `json_valid`. With values that are each
complete, the payload is exactly `{"k1":v1,...,"kn":vn}`: a `,"k":` met inside a nested value
would have cut that value short (unbalanced, so not valid) and a record with a field more, a
field less, a repeated field, whitespace or a field out of order fails one of the checks. The
keys must be plain names (letters, digits, `_`): a quote cannot stand in the middle of a JSON
string unescaped, so `,"name":` matches only a key. When any check fails `cut` returns None
and the caller parses the payloads instead (DuckDB, else record by record in Python).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

try:  # the compiled scans, built at install where a C compiler is (see setup.py)
    from keel.log import _scan
except ImportError:  # pragma: no cover - the NumPy and Arrow ways below give the same
    _scan = None

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# one JSON scalar, the whole text (RE2, anchored): number, string, true, false, null
_SCALAR = (
    r"^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
    r'|"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
    r"|true|false|null)$"
)
_OPEN = (ord("{"), ord("["))
_LONG = 48  # bytes of the first record's value past which its key is searched with RE2
_TWELVE = np.arange(12)
_NARROW = 64  # values at most this long are copied together by NumPy, longer ones by Arrow
_VIEW = np.dtype([("size", "<i4"), ("prefix", "V4"), ("buffer", "<i4"), ("offset", "<i4")])


def cut(payloads: pa.LargeStringArray, skip: int = 0) -> dict[str, pa.Array] | None:
    """{field: its JSON text per record} of `payloads` (each record's text from byte `skip`
    of its value: the frame header blanked before it), fields in the first record's order,
    a JSON `null` as a null; None when the payloads are not all laid out as the first one
    is (see the module docstring)."""
    count = len(payloads)
    if count == 0 or payloads.null_count:
        return None
    _, offsets_buffer, data_buffer = payloads.buffers()
    if data_buffer is None or not 12 <= data_buffer.size < 2**31:  # views hold 32-bit offsets
        return None
    offsets = np.frombuffer(offsets_buffer, np.int64, count + 1, payloads.offset * 8)
    data = np.frombuffer(data_buffer, np.uint8)
    starts, ends = offsets[:-1] + skip, offsets[1:]
    try:
        first = json.loads(data[starts[0] : ends[0]].tobytes())
    except ValueError:
        return None
    if not isinstance(first, dict) or not first:
        return None
    names = list(first)
    if not all(_NAME.match(n) for n in names) or len({n.lower() for n in names}) < len(names):
        return None  # DuckDB's names are case-blind: the parse refuses those, and so do we
    head = f'{{"{names[0]}":'.encode()
    if (ends - starts < len(head) + 2).any() or (data[ends - 1] != ord("}")).any():
        return None
    if _scan is not None:  # the compiled cut: one pass, every value checked as it goes
        return _split(data, offsets, skip, names)
    for k, byte in enumerate(head):
        if (data[starts + k] != byte).any():
            return None
    spans: list[tuple[np.ndarray, np.ndarray]] = []
    begin = starts + len(head)
    for name in names[1:]:
        key = f',"{name}":'.encode()
        # a plain search is quick over a few bytes, RE2 over many (its cost is per record)
        width = starts[0] + data[starts[0] : ends[0]].tobytes().find(key) - begin[0]
        if width > _LONG:
            stop = _guess(data, spans, begin, ends, key, width)
        else:
            stop = _tried(data, begin, ends, key, width)
        if stop is None or (stop < 0).any():  # a guess holds these bounds already
            todo = np.arange(count) if stop is None else np.flatnonzero(stop < 0)
            stop = np.empty(count, np.int64) if stop is None else stop
            # each record left from its value on, to the next one's (not copied)
            rest = pa.LargeStringArray.from_buffers(
                len(todo), pa.py_buffer(np.append(begin[todo], ends[-1])), data_buffer
            )
            search = pc.find_substring_regex if width > _LONG else pc.find_substring
            found = search(rest, key.decode()).to_numpy()
            stop[todo] = begin[todo] + found
            if (found < 1).any() or (stop + len(key) >= ends).any():
                return None  # missing, empty, or found only in the next record
        spans.append((begin, stop))
        begin = stop + len(key)
    spans.append((begin, ends - 1))
    texts = {n: _gather(data, data_buffer, a, b) for n, (a, b) in zip(names, spans, strict=True)}
    nested: list[pa.Array] = []
    for name, (a, _) in zip(names, spans, strict=True):
        if np.isin(data[a], _OPEN).any():
            if not any(_same(texts[name], other) for other in nested):  # model_inputs, often
                nested.append(texts[name])
        elif pc.all(pc.match_substring_regex(texts[name], _SCALAR)).as_py() is False:
            return None
    return texts if _valid(nested) else None


def _split(
    data: np.ndarray, offsets: np.ndarray, skip: int, names: list[str]
) -> dict[str, pa.Array] | None:
    """`cut` by the compiled scan (`keel.log._scan.split`)."""
    found = _scan.split(data, offsets, skip, field_keys(names))
    if found is None:
        return None
    return dict(zip(names, field_columns(found, len(offsets) - 1), strict=True))


def field_keys(names: list[str]) -> list[bytes]:
    """What stands before each field's value in a record laid out with `names` in order,
    minified: `{"n1":`, then `,"n2":` and so on (the keys `_scan.split` takes)."""
    return [f'{{"{names[0]}":'.encode(), *(f',"{n}":'.encode() for n in names[1:])]


def field_columns(found: list[tuple], count: int) -> list[pa.StringArray]:
    """`_scan.split`'s buffers (offsets, bytes, validity, nulls per field) as string arrays of
    `count` values each, nothing copied."""
    return [
        pa.StringArray.from_buffers(
            count,
            pa.py_buffer(at),
            pa.py_buffer(text),
            None if valid is None else pa.py_buffer(valid),
            nulls,
        )
        for at, text, valid, nulls in found
    ]


_TRIES = 4  # lengths a short value is tried at before the records left are searched


def _tried(
    data: np.ndarray, begin: np.ndarray, ends: np.ndarray, key: bytes, width: int
) -> np.ndarray:
    """Where each record's short value from `begin` ends when `key` stands right after it at
    one of a few lengths: the first record's `width`, then the length in the first record
    not matched yet, and so on `_TRIES` times; -1 in the records left. Every value is checked
    whole afterwards, so a length tried can only save the search, never change the cut."""
    stop = np.full(len(begin), -1, np.int64)
    todo = np.arange(len(begin))
    for _ in range(_TRIES):
        at = begin[todo] + width
        fits = (width >= 1) & (at + len(key) < ends[todo])
        if fits.any():
            fits[fits] = _stands(data, at[fits], key)
        stop[todo[fits]] = at[fits]
        todo = todo[~fits]
        if len(todo) == 0:
            break
        first = todo[0]
        width = data[begin[first] : ends[first]].tobytes().find(key)
    return stop


def _stands(data: np.ndarray, at: np.ndarray, key: bytes) -> np.ndarray:
    """Whether `key` stands at each place of `at` (each at least len(key) bytes before the
    end of `data`): compared eight bytes at a time, the last eight ending where it ends."""
    if len(at) and at.min() + len(key) >= 8:
        words = np.ndarray((len(data) - 7,), "<u8", data, 0, (1,))  # 8 bytes from each byte
        pieces = [*range(0, len(key) - 8, 8), len(key) - 8]
        same = np.ones(len(at), bool)
        for k in pieces:
            piece = key[k : k + 8] if k >= 0 else key[: k + 8]
            word = int.from_bytes(piece.rjust(8, b"\0") if k < 0 else piece, "little")
            mask = np.uint64((1 << 64) - (1 << (8 * (8 - len(piece)))) if k < 0 else (1 << 64) - 1)
            same &= (words[at + k] & mask) == np.uint64(word)
        return same
    same = data[at] == key[0]
    for k in range(1, len(key)):
        same[same] = data[at[same] + k] == key[k]
    return same


def _guess(
    data: np.ndarray,
    spans: list[tuple[np.ndarray, np.ndarray]],
    begin: np.ndarray,
    ends: np.ndarray,
    key: bytes,
    width: int,
) -> np.ndarray | None:
    """Where each record's long value from `begin` ends, taken as long as an earlier value
    of the same record when the first record's are alike (`model_inputs` as logged beside
    `inputs`, when no feature code changes them) and `key` stands right after it in every
    record; None when any does not. Every value is checked whole afterwards, so a guess can
    only save the search, never change the cut."""
    for a, b in spans:
        if b[0] - a[0] != width:
            continue
        stop = begin + (b - a)
        if (b - a < 1).any() or (stop + len(key) >= ends).any():
            continue
        if _stands(data, stop, key).all():
            return stop
    return None


def _gather(data: np.ndarray, buffer: pa.Buffer, begin: np.ndarray, end: np.ndarray) -> pa.Array:
    """The bytes [begin, end) of each record as one string array (copied together by Arrow
    from string views onto `buffer`; JSON `null` as null)."""
    count = len(begin)
    sizes = (end - begin).astype(np.int32)
    if count and 0 < (widest := int(sizes.max())) <= _NARROW and begin.max() + widest <= len(data):
        array = _narrow(data, begin, sizes, widest)
    else:
        array = _viewed(data, buffer, begin, sizes)
    nulls = sizes == 4
    if nulls.any():
        nulls[nulls] = pc.equal(array.filter(pa.array(nulls)), "null").to_numpy(
            zero_copy_only=False
        )
        if nulls.any():
            array = pc.if_else(pa.array(nulls), pa.scalar(None, pa.string()), array)
    return array


def _narrow(data: np.ndarray, begin: np.ndarray, sizes: np.ndarray, widest: int) -> pa.Array:
    """Short values (at most _NARROW bytes each) copied together by NumPy: each record's
    `widest` bytes from its start side by side, the bytes past its value masked out."""
    windows = np.lib.stride_tricks.as_strided(data, (len(data) - widest + 1, widest), (1, 1))
    kept = windows[begin][np.arange(widest) < sizes[:, None]]
    offsets = np.zeros(len(sizes) + 1, np.int32)
    np.cumsum(sizes, out=offsets[1:])
    return pa.StringArray.from_buffers(len(sizes), pa.py_buffer(offsets), pa.py_buffer(kept))


def _viewed(data: np.ndarray, buffer: pa.Buffer, begin: np.ndarray, sizes: np.ndarray) -> pa.Array:
    """Values of any length copied together by Arrow from string views onto `buffer`."""
    count = len(begin)
    views = np.zeros(count, _VIEW)
    views["size"] = sizes
    raw = views.view(np.uint8).reshape(count, 16)
    short = sizes <= 12  # inline: the bytes themselves after the size (zero past them)
    windows = np.ndarray((len(data) - 11,), "V12", data, 0, (1,))  # 12 bytes from each byte
    limit = len(data) - 12
    inline = windows[np.minimum(begin, limit)].view(np.uint8).reshape(count, 12)
    late = begin > limit  # fewer than 12 bytes left in the buffer: from a padded copy
    if late.any():
        padded = np.concatenate([data[limit:], np.zeros(12, np.uint8)])
        inline[late] = padded[(begin[late] - limit)[:, None] + _TWELVE]
    inline *= np.where(short, sizes, 4)[:, None] > _TWELVE
    raw[:, 4:] = inline
    long = ~short  # else the first four bytes (kept above), buffer 0, where the bytes are
    views["offset"][long] = begin[long]
    return pa.Array.from_buffers(pa.string_view(), count, [None, pa.py_buffer(views), buffer]).cast(
        pa.string()
    )


def _same(a: pa.Array, b: pa.Array) -> bool:
    """Whether two columns hold the same text in every row (nulls alike)."""
    if a.null_count or b.null_count:
        return False
    return bool(pc.all(pc.equal(a, b)).as_py())


def _valid(columns: list[pa.Array]) -> bool:
    """Whether every text of `columns` is one complete JSON value (nulls are), by DuckDB's
    JSON reader (the one the roll parses payloads with when they cannot be cut)."""
    if not columns:
        return True
    import duckdb

    names = [f"c{k}" for k in range(len(columns))]
    checks = " AND ".join(f"({n} IS NULL OR json_valid({n}))" for n in names)
    con = duckdb.connect()
    try:
        con.register("t", pa.table(dict(zip(names, columns, strict=True))))
        return con.sql(f"SELECT count(*) FROM t WHERE NOT ({checks})").fetchall()[0][0] == 0
    except duckdb.Error:
        return False
    finally:
        con.close()
