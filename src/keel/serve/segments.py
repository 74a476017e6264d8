"""Segment files of the prediction log: framed records, one writer per file, crash recovery.

A record is framed as a 4-byte big-endian payload length, the payload's 4-byte CRC32, then the
payload (the record as compact UTF-8 JSON). A reader stops at the first frame that is short,
fails its CRC or is not a JSON object, so a torn tail written by a crash is never read as a
record.

A segment being written is `seg-<pid>-<seq>-<token>.open`, held under an exclusive `flock` by
its writer for as long as it is open. Closing fsyncs it and renames it to `.seg` (closed).
`recover` takes the lock of every `.open` segment it can get, which only succeeds when its
writer is gone (the kernel drops a dead process's locks), truncates the torn tail and closes it;
segments of live writers, in this process or another, are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keel.errors import KeelError

HEADER = struct.Struct(">II")
OPEN_SUFFIX = ".open"
CLOSED_SUFFIX = ".seg"
# A frame longer than this is corruption, not a record (a row with inputs is a few KiB).
MAX_RECORD_BYTES = 64 * 1024 * 1024


def encode_record(record: dict[str, Any]) -> bytes:
    """One framed record: length, CRC32, JSON. Raises KeelError for a record JSON cannot hold."""
    if not isinstance(record, dict):
        raise KeelError(f"prediction log: a record must be a dict, got {type(record).__name__}")
    try:
        payload = json.dumps(record, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise KeelError(f"prediction log: record is not JSON-able: {exc}") from None
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def frame_ends(data: bytes | bytearray | memoryview) -> list[int]:
    """The end offset of each complete frame at the start of `data` whose CRC holds.

    Stops at the first short, oversized or corrupt frame (a torn tail). The payloads are not
    parsed: a reader still treats one that is not a JSON object as the end (`decode_records`).
    """
    view = memoryview(data)
    size = len(view)
    ends: list[int] = []
    unpack, crc32, header = HEADER.unpack_from, zlib.crc32, HEADER.size
    pos = 0
    while pos + header <= size:
        length, crc = unpack(view, pos)
        start = pos + header
        end = start + length
        if length == 0 or length > MAX_RECORD_BYTES or end > size:
            break
        if crc32(view[start:end]) != crc:
            break
        ends.append(end)
        pos = end
    return ends


def decode_records(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The complete records at the start of `data` and the byte length they span.

    Reading stops at the first incomplete or corrupt frame; everything after it is a torn tail.
    """
    records: list[dict[str, Any]] = []
    pos = 0
    for end in frame_ends(data):
        try:
            record = json.loads(data[pos + HEADER.size : end])
        except ValueError:
            break
        if not isinstance(record, dict):
            break
        records.append(record)
        pos = end
    return records, pos


def read_segment(path: Path) -> list[dict[str, Any]]:
    """The complete records of one segment file."""
    return decode_records(Path(path).read_bytes())[0]


def fsync_dir(folder: Path) -> None:
    """Make a create, rename or delete in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """The open segment of one writer: appends framed bytes, fsyncs, closes into `.seg`.

    Not thread-safe: the prediction log's single writer thread owns it.
    """

    def __init__(self, folder: Path, seq: int) -> None:
        self.folder = Path(folder)
        token = secrets.token_hex(4)
        self.name = f"seg-{os.getpid()}-{seq:08d}-{token}"
        self.path = self.folder / (self.name + OPEN_SUFFIX)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        self.size = 0
        fsync_dir(self.folder)

    def write(self, data: bytes) -> None:
        """Append `data` (whole frames) to the segment."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)

    def fsync(self) -> None:
        """Make everything written so far durable."""
        os.fsync(self._fd)

    def close(self) -> Path:
        """fsync, rename to `.seg` and release the lock; return the closed segment's path."""
        os.fsync(self._fd)
        closed = self.folder / (self.name + CLOSED_SUFFIX)
        if self.size:
            os.replace(self.path, closed)
        else:
            self.path.unlink()
        fsync_dir(self.folder)
        os.close(self._fd)
        return closed


def recover(folder: str | Path) -> list[Path]:
    """Close every `.open` segment whose writer is dead, its torn tail cut; return them.

    Safe while writers are running: a segment whose lock is held is someone's live segment.
    """
    folder = Path(folder)
    recovered: list[Path] = []
    if not folder.is_dir():
        return recovered
    for path in sorted(folder.glob("*" + OPEN_SUFFIX)):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # closed by its writer meanwhile
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            if not path.exists():  # closed by its writer between our open and our lock
                continue
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read()
            _, good = decode_records(data)
            if good < len(data):
                os.ftruncate(fd, good)
            os.fsync(fd)
            if good:
                closed = path.with_suffix(CLOSED_SUFFIX)
                os.replace(path, closed)
                recovered.append(closed)
            else:
                path.unlink()
            fsync_dir(folder)
        finally:
            os.close(fd)
    return recovered


def closed_segments(folder: str | Path) -> Iterator[Path]:
    """The closed segments of `folder`, oldest name first."""
    folder = Path(folder)
    if folder.is_dir():
        yield from sorted(folder.glob("*" + CLOSED_SUFFIX))


def remove(path: Path) -> None:
    """Delete a rolled segment, durably."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fsync_dir(path.parent)
