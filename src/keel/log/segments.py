"""Segment files of the prediction log: framed records, one writer per file, crash recovery.

A record is framed as a 4-byte big-endian payload length, the payload's 4-byte CRC32, then the
payload (the record as compact UTF-8 JSON). A reader skips a frame that is short, fails
its CRC or is not a JSON object and re-synchronises on the next valid frame (`scan`), so a torn
tail written by a crash is never read as a record and a damaged record costs only itself; the
damaged bytes are kept aside (`keel.log.quarantine`).

A segment being written is `seg-<pid>-<seq>-<token>.open`, held under an exclusive `flock` by
its writer for as long as it is open. Closing fsyncs it and renames it to `.seg` (closed).
`recover` takes the lock of every `.open` segment it can get, which only succeeds when its
writer is gone (the kernel drops a dead process's locks), cuts the torn tail (kept in quarantine)
and closes it;
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.errors import KeelError
from keel.log.quarantine import Damage, keep

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


@dataclass(frozen=True)
class Gap:
    """A damaged byte range [start, end) between valid frames, and the records it held."""

    start: int
    end: int
    records: int  # a lower bound unless `exact`
    exact: bool


def _frame_end(view: memoryview, pos: int, size: int) -> int:
    """The end of the valid frame starting at `pos`, or 0 when there is none."""
    if pos + HEADER.size > size:
        return 0
    length, crc = HEADER.unpack_from(view, pos)
    start = pos + HEADER.size
    end = start + length
    if length == 0 or length > MAX_RECORD_BYTES or end > size:
        return 0
    return end if zlib.crc32(view[start:end]) == crc else 0


def _next_frame(data: bytes, view: memoryview, pos: int, size: int) -> int:
    """The start of the first valid frame after `pos` (a payload is a JSON object, so it
    starts with `{`), or `size` when none follows."""
    brace = data.find(b"{", pos + 1 + HEADER.size)
    while brace != -1:
        if _frame_end(view, brace - HEADER.size, size):
            return brace - HEADER.size
        brace = data.find(b"{", brace + 1)
    return size


def _lost(view: memoryview, start: int, end: int) -> tuple[int, bool]:
    """How many records the damaged range [start, end) held: exact when the length headers
    in it chain from `start` to `end` (only payloads were damaged), else a lower bound."""
    count, pos = 0, start
    while pos + HEADER.size <= end:
        length = HEADER.unpack_from(view, pos)[0]
        if length == 0 or pos + HEADER.size + length > end:
            break
        count += 1
        pos += HEADER.size + length
    if pos == end:
        return count, True
    return count + 1, False


def scan(data: bytes | bytearray | memoryview) -> tuple[list[tuple[int, int]], list[Gap]]:
    """The (start, end) of every frame of `data` whose length and CRC hold, and the damaged
    ranges between them.

    A damaged frame is skipped by re-synchronising on the next valid frame, so one bad record
    costs only itself. A range running to the end of `data` is a torn tail when `data` is a
    segment being written (or of a crashed writer). The payloads are not parsed: a reader
    treats a valid frame that is not a JSON object as damaged too (`decode`).
    """
    view = memoryview(data).cast("B")
    raw = data if isinstance(data, bytes | bytearray) else None  # copied only on damage
    size = len(view)
    frames: list[tuple[int, int]] = []
    gaps: list[Gap] = []
    pos = 0
    while pos < size:
        end = _frame_end(view, pos, size)
        if end:
            frames.append((pos, end))
            pos = end
            continue
        if raw is None:
            raw = view.tobytes()
        resume = _next_frame(raw, view, pos, size)
        gaps.append(Gap(pos, resume, *_lost(view, pos, resume)))
        pos = resume
    return frames, gaps


def decode(data: bytes) -> tuple[list[dict[str, Any]], list[Gap]]:
    """The records of `data` (every valid frame holding a JSON object) and the damaged ranges
    skipped; a valid frame that is not a JSON object is a damaged range of one record."""
    records: list[dict[str, Any]] = []
    frames, gaps = scan(data)
    bad: list[Gap] = []
    for start, end in frames:
        try:
            record = json.loads(data[start + HEADER.size : end])
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            bad.append(Gap(start, end, 1, True))
    return records, sorted(gaps + bad, key=lambda g: g.start)


def decode_records(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The complete records of `data` and the end of the last one (0 when none).

    Damaged frames are skipped (see `scan`); what follows the last record is a torn tail.
    """
    records, gaps = decode(data)
    good = len(data)
    if gaps and gaps[-1].end == len(data):
        good = gaps[-1].start
    return records, good


def read_segment(path: Path) -> list[dict[str, Any]]:
    """The complete records of one segment file, damaged frames skipped."""
    return decode(Path(path).read_bytes())[0]


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


def recover(folder: str | Path, damaged: list[Damage] | None = None) -> list[Path]:
    """Close every `.open` segment whose writer is dead, its torn tail cut; return them.

    The torn tail's bytes are kept in quarantine first (`keel.log.quarantine`); damaged
    ranges in the middle stay for the roll-up to skip and keep. `damaged`, when given,
    receives every damaged range met (tail and middle), so a server can count them.
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
            frames, gaps = scan(data)
            good = frames[-1][1] if frames else 0
            found = [Damage(path.stem, g.start, g.end - g.start, g.records, g.exact) for g in gaps]
            if damaged is not None:
                damaged.extend(found)
            if good < len(data):
                keep(folder, found[-1], data[good:])  # the torn tail, before it is cut
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
