"""Closed segments' records straight into Arrow, column by column (`keel.log.rollup`).

A batch of segments is taken together (`columnar_batch`): their bytes read into one buffer,
each segment's frames checked on its own, every payload of the batch cut into fields (or
parsed in one DuckDB query) at once, so a log of many small segments (one a minute) costs
what one of few large ones does.

The framing is checked in Python (length and CRC of each frame, `scan`: a damaged frame is
left out and handed back with its bytes). Each top-level field's JSON text is then cut out of
the payloads where it stands (`keel.log._spans.cut`: no JSON parse, the text as logged) when
every record is laid out as the first (its fields in its order, minified: how Keel's server
writes them); else the payloads are parsed by DuckDB's JSON reader over the segment's own
bytes (each 8-byte header blanked to whitespace in memory, never on disk), never record by
record in Python, and every top-level field comes out as its JSON text, minified (the same
values; a number may be written another way, 1e-05 as 0.00001, non-ASCII as UTF-8 rather than
a \\u escape). Either way each field's text is then typed as the record-by-record way types
it (`rollup._columns`): one scalar kind per field and partition is stored as that type,
anything else (objects, lists, mixed kinds) as that JSON text.

`Unsupported` sends the segment to the record-by-record way: a payload that is not UTF-8 or
not a JSON object, a repeated field, two fields whose names differ only in case, a time that
is not a string, a model_version that is not an integer.
"""

from __future__ import annotations

import json
import os
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import interrupted
from keel.log._spans import _scan, cut
from keel.log.segments import HEADER, MAX_RECORD_BYTES, Gap, scan

_PARTITION = ("model_version",)
_BATCH_ROWS = 16_384  # payloads per Arrow batch DuckDB's threads take one at a time


class Unsupported(Exception):
    """The segment needs the record-by-record roll."""


def _read(segments: list[Path]) -> tuple[np.ndarray, list[int]]:
    """The bytes of `segments` side by side in one buffer, and where each one starts."""
    handles = [open(path, "rb") for path in segments]  # noqa: SIM115 - closed below
    try:
        sizes = [os.fstat(h.fileno()).st_size for h in handles]
        buffer = np.empty(sum(sizes), np.uint8)  # not zeroed: read over
        starts, at = [], 0
        for handle, size in zip(handles, sizes, strict=True):
            starts.append(at)
            at += handle.readinto(memoryview(buffer)[at : at + size])
    finally:
        for handle in handles:
            handle.close()
    return buffer[:at], [*starts, at]


def _frame_ends(view: memoryview) -> list[int] | None:
    """Where each frame of one segment ends, every frame's length and CRC checked in one
    tight loop; None at the first frame that does not hold (`segments.scan` then takes it)."""
    unpack, crc32, header, size = HEADER.unpack_from, zlib.crc32, HEADER.size, len(view)
    ends: list[int] = []
    append = ends.append
    pos = 0
    while pos < size:
        if pos + header > size:
            return None
        length, crc = unpack(view, pos)
        start, pos = pos + header, pos + header + length
        if length == 0 or length > MAX_RECORD_BYTES or pos > size:
            return None
        if crc32(view[start:pos]) != crc:
            return None
        append(pos)
    return ends


def _segment_ends(buffer: np.ndarray, starts: list[int]) -> list[np.ndarray | None]:
    """Per segment (from starts[k] to starts[k + 1] of `buffer`), where each of its frames
    ends in `buffer`, or None when a frame does not hold: by the compiled scan when built."""
    if _scan is None:
        found = []
        for start, end in zip(starts, starts[1:], strict=False):
            ends = _frame_ends(memoryview(buffer)[start:end])
            found.append(None if ends is None else np.asarray(ends, np.int64) + start)
        return found
    out = np.empty(len(buffer) // (HEADER.size + 1) + 1, np.int64)
    counts = np.empty(max(len(starts) - 1, 0), np.int64)
    _scan.frames(buffer, np.asarray(starts, np.int64), MAX_RECORD_BYTES, out, counts)
    found, at = [], 0
    for count in counts.tolist():
        found.append(None if count < 0 else out[at : at + count])
        at += max(count, 0)
    return found


def _payloads(
    segments: list[Path],
) -> tuple[pa.LargeStringArray, list[tuple[Path, Gap, bytes]]]:
    """One JSON text per valid frame of `segments` (the header before each payload blanked,
    in memory), and the damaged ranges skipped: their segment, range and bytes."""
    buffer, starts = _read(segments)
    pieces: list[np.ndarray] = []  # per segment: its frames' (start, end) in the buffer
    damaged: list[tuple[Path, Gap, bytes]] = []
    whole = _segment_ends(buffer, starts)
    for path, start, end, stops in zip(segments, starts, starts[1:], whole, strict=False):
        if stops is not None:  # whole: its frames side by side from its first byte (none: empty)
            pieces.append(np.stack([np.concatenate([[start], stops])[:-1], stops], axis=1))
            continue
        view = memoryview(buffer)[start:end]
        found, gaps = scan(view)
        pieces.append(np.asarray(found, np.int64).reshape(-1, 2) + start)
        damaged += [(path, g, buffer[start + g.start : start + g.end].tobytes()) for g in gaps]
    frames = np.concatenate(pieces) if pieces else np.zeros((0, 2), np.int64)
    if damaged or len(frames) and frames[-1, 1] != len(buffer):  # valid frames side by side
        buffer = np.concatenate([buffer[a:b] for a, b in frames.tolist()] or [buffer[:0]])
        ends = np.cumsum(frames[:, 1] - frames[:, 0], dtype=np.int64)
    else:
        ends = frames[:, 1]
    offsets = np.zeros(len(ends) + 1, np.int64)
    offsets[1:] = ends
    for k in range(HEADER.size - 1):  # the header becomes spaces and a newline (whitespace)
        buffer[offsets[:-1] + k] = 0x20
    buffer[offsets[:-1] + HEADER.size - 1] = 0x0A
    payloads = pa.LargeStringArray.from_buffers(
        len(ends), pa.py_buffer(offsets), pa.py_buffer(buffer)
    )
    try:
        payloads.validate(full=True)  # UTF-8
    except pa.ArrowInvalid:
        raise Unsupported("a payload is not UTF-8") from None
    return payloads, damaged


def _fields(payloads: pa.LargeStringArray) -> dict[str, pa.ChunkedArray]:
    """Each top-level field's JSON text per record (null where a record lacks it or has null).

    First try: every record has exactly the first record's fields (one parse of each payload,
    `json_transform_strict` refusing a missing or repeated one, `json_keys` counting them).
    Else the fields of all records are gathered first (a second parse).
    """
    import duckdb

    if len(payloads) == 0:
        return {}
    texts = cut(payloads, HEADER.size)  # laid out as Keel's server writes them: no parse
    if texts is not None:
        return {name: pa.chunked_array([text]) for name, text in texts.items()}
    try:
        first = json.loads(payloads[0].as_py())
    except ValueError:
        raise Unsupported("a payload is not JSON") from None
    if not isinstance(first, dict):
        raise Unsupported("a payload is not a JSON object")
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")  # rows come back in log order
        batches = pa.table({"p": payloads}).to_batches(max_chunksize=_BATCH_ROWS)
        con.register("payloads", pa.Table.from_batches(batches))  # batches: DuckDB's threads
        names = list(first)
        try:
            table = con.sql(
                f"SELECT json_transform_strict(p, '{_structure(names)}') AS r, "
                "len(json_keys(p)) AS n FROM payloads"
            ).to_arrow_table()
            if pc.max(table.column("n")).as_py() != len(names):
                raise Unsupported("a record has a field the first has not")
        except (duckdb.Error, Unsupported):  # fields vary between records
            found = con.sql("SELECT DISTINCT unnest(json_keys(p)) FROM payloads").fetchall()
            names += sorted({k for (k,) in found} - set(names))
            repeated = con.sql(
                "SELECT count(*) FROM payloads "
                "WHERE len(json_keys(p)) <> len(list_distinct(json_keys(p)))"
            ).fetchall()[0][0]
            if repeated:  # Python keeps the last of a repeated field; leave it to Python
                raise Unsupported("a record repeats a field") from None
            # a payload that is not an object comes out without a time: see columnar_tables
            table = con.sql(f"SELECT json_transform(p, '{_structure(names)}') AS r FROM payloads")
            table = table.to_arrow_table()
    except duckdb.Error as exc:
        raise Unsupported(f"DuckDB: {exc}") from None
    except RuntimeError as exc:  # Ctrl-C: DuckDB took the SIGINT; give it back as such
        if interrupted(exc):
            raise KeyboardInterrupt from None
        raise
    finally:
        con.close()
    chunks = [chunk for chunk in table.column("r").chunks if len(chunk)]  # not copied together
    return {
        name: pa.chunked_array([c.field(i) for c in chunks], pa.string())
        for i, name in enumerate(names)
    }


def _structure(names: list[str]) -> str:
    """json_transform's structure: every field as its JSON text (quoted for SQL)."""
    if len({n.lower() for n in names}) < len(names):  # DuckDB's names are case-blind
        raise Unsupported("two fields differ only in case")
    return json.dumps(dict.fromkeys(names, "JSON")).replace("'", "''")


_KIND_OF = {ord('"'): "str", ord("{"): "json", ord("["): "json", ord("t"): "bool", ord("f"): "bool"}
_NUMBER = np.ones(256, bool)
_NUMBER[list(_KIND_OF)] = False


def _buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Where each value of a string array starts and ends, and the bytes they index (read off
    Arrow's buffers, nothing copied)."""
    _, offsets, data = text.buffers()
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    starts = np.frombuffer(
        offsets, width, count=len(text) + 1, offset=text.offset * width().itemsize
    )
    bytes_ = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return starts, bytes_


def _heads(text: pa.Array) -> np.ndarray:
    """The first byte of each non-null JSON text (read off Arrow's buffers, nothing copied)."""
    starts, bytes_ = _buffers(text)
    present = starts[1:] > starts[:-1]  # a null or empty text has no first byte
    if text.null_count:
        present &= pc.is_valid(text).to_numpy(zero_copy_only=False)
    return bytes_[starts[:-1][present]]


def _holds(text: pa.Array | pa.ChunkedArray, characters: bytes) -> bool:
    """Whether any value of `text` holds one of `characters` (a search of the bytes its values
    span: a null or empty value spans none)."""
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        starts, bytes_ = _buffers(chunk)
        span = bytes_[starts[0] : starts[-1]].tobytes() if len(chunk) else b""
        if any(span.find(bytes([c])) >= 0 for c in characters):
            return True
    return False


def _kinds(text: pa.Array | pa.ChunkedArray) -> set[str]:
    """The kinds of the JSON texts (null aside): bool, int, float, str, json; numbers are
    `float` when any has a point or an exponent, else `int`, when nothing else is mixed in."""
    if text.null_count == len(text):
        return set()
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    heads = np.flatnonzero(np.bincount(np.concatenate([_heads(c) for c in chunks]), minlength=256))
    kinds = {_KIND_OF[h] for h in heads.tolist() if h in _KIND_OF}
    if _NUMBER[heads].any():
        if not kinds:  # numbers only
            kinds.add("float" if _holds(text, b".eE") else "int")
            return kinds
        numbers = text.filter(pa.array(_number_rows(text)))
        floats = pc.match_substring_regex(numbers, "[.eE]")
        if pc.any(floats).as_py():
            kinds.add("float")
        if not pc.all(floats).as_py():
            kinds.add("int")
    return kinds


def _number_rows(text: pa.Array) -> np.ndarray:
    """Which rows of `text` hold a number."""
    first = pc.utf8_slice_codeunits(text, 0, 1)
    return pc.fill_null(
        pc.invert(pc.is_in(first, pa.array(['"', "{", "[", "t", "f"]))), False
    ).to_numpy(zero_copy_only=False)


def _typed(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A field's column as the record-by-record roll stores it (see `rollup._columns`)."""
    kinds = _kinds(text)
    if not kinds:
        return pa.nulls(len(text))
    if kinds == {"bool"}:
        return pc.equal(text, "true")
    if kinds <= {"int", "float"}:
        if "float" in kinds:
            return pc.cast(text, pa.float64())
        try:
            return pc.cast(text, pa.int64())
        except pa.ArrowInvalid:  # an integer beyond 64 bits: its digits, as text
            if not pc.all(pc.match_substring_regex(text, "^-?[0-9]+$")).as_py():
                raise Unsupported("a number that is not an integer (NaN, Infinity)") from None
            return text
    if kinds == {"str"}:
        if _holds(text, b"\\"):  # escapes: let json decode them
            return pa.array([None if v is None else json.loads(v) for v in text.to_pylist()])
        return pc.utf8_slice_codeunits(text, 1, -1)
    return text  # objects, lists, or kinds mixed: the JSON text


def _utc_day(stamp: str) -> date:
    """The UTC date of one ISO time, as Python reads it (naive: UTC)."""
    moment = datetime.fromisoformat(stamp)
    return (moment.astimezone(UTC) if moment.tzinfo is not None else moment).date()


def _utc_days(times: pa.Array) -> pa.Array:
    """The UTC date of each ISO time (date32)."""
    try:
        return pc.cast(pc.cast(times, pa.timestamp("us", "UTC")), pa.date32())
    except pa.ArrowInvalid:  # no offset (UTC), or a form only Python reads: time by time
        distinct = pc.unique(times)
        try:
            days = [_utc_day(t) for t in distinct.to_pylist()]
        except (TypeError, ValueError) as exc:
            raise Unsupported(f"a time Python cannot read: {exc}") from None
        return pc.take(pa.array(days, pa.date32()), pc.index_in(times, distinct))


def _groups(days: np.ndarray, versions: np.ndarray) -> list[tuple[int, int, slice | np.ndarray]]:
    """(day, version, rows) per partition: a slice when its rows are one run (the usual case:
    a log is written in time order), else their positions."""
    change = np.flatnonzero((days[1:] != days[:-1]) | (versions[1:] != versions[:-1])) + 1
    bounds = [0, *change.tolist(), len(days)]
    runs = [
        (int(days[a]), int(versions[a]), slice(a, b))
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    if len({(d, v) for d, v, _ in runs}) == len(runs):
        return runs
    pairs = sorted({(d, v) for d, v, _ in runs})
    return [(d, v, np.flatnonzero((days == d) & (versions == v))) for d, v in pairs]


def columnar_tables(
    segment: Path,
) -> tuple[dict[tuple[str, int], pa.Table], list[tuple[Gap, bytes]]]:
    """{(UTC date, model version): the records of that partition as a table} of `segment`,
    and its damaged ranges (skipped) with their bytes."""
    tables, damaged = columnar_batch([segment])
    return tables, [(gap, data) for _, gap, data in damaged]


def columnar_batch(
    segments: list[Path],
) -> tuple[dict[tuple[str, int], pa.Table], list[tuple[Path, Gap, bytes]]]:
    """{(UTC date, model version): the records of that partition as a table} of `segments`
    together (in their order), and their damaged ranges (skipped): segment, range, bytes."""
    try:
        return _tables(segments)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise Unsupported(f"Arrow: {exc}") from None  # a number Arrow cannot read, say


def _tables(
    segments: list[Path],
) -> tuple[dict[tuple[str, int], pa.Table], list[tuple[Path, Gap, bytes]]]:
    payloads, damaged = _payloads(segments)
    fields = _fields(payloads)
    if not fields:
        return {}, damaged
    times, versions = fields.get("time"), fields.get("model_version")
    if times is None or versions is None or times.null_count or versions.null_count:
        raise Unsupported("a record without time or model_version")
    if _kinds(times) != {"str"} or _kinds(versions) != {"int"}:
        raise Unsupported("time is not a string or model_version not an integer")
    days = _utc_days(_typed(times)).cast(pa.int32()).to_numpy()
    numbers = pc.cast(versions, pa.int64()).to_numpy()
    names = [n for n in fields if n not in _PARTITION]
    tables: dict[tuple[str, int], pa.Table] = {}
    for day, version, rows in _groups(days, numbers):
        if isinstance(rows, slice):
            texts = [fields[n].slice(rows.start, rows.stop - rows.start) for n in names]
        else:
            texts = [fields[n].take(pa.array(rows)) for n in names]
        key = ((date(1970, 1, 1) + timedelta(days=day)).isoformat(), version)
        tables[key] = pa.table(dict(zip(names, [_typed(t) for t in texts], strict=True)))
    return tables, damaged
