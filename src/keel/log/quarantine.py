"""Damaged bytes of the prediction log, kept aside rather than lost or hidden.

A segment frame that fails its length or CRC check (a flipped bit on disk, a torn write) is
skipped by re-synchronising on the next valid frame (`keel.log.segments.scan`); its bytes
are written here, one file per damaged range, `<segment>-<offset>.bin`, beside a
`<segment>-<offset>.json` saying the segment, the offset, the byte count and how many records
were lost (exact when the damaged range is a whole number of frames whose headers held, else a
lower bound). Re-rolling a segment after a crash writes the same names, never duplicates.

The folder is `quarantine/` inside the segments folder (`quarantine_dir`), so it travels with
the log and is never taken for a segment (only top-level `.seg`/`.open` files are).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from keel.atomic import write_bytes_atomic, write_text_atomic

QUARANTINE = "quarantine"


@dataclass(frozen=True)
class Damage:
    """One damaged byte range of a segment: where, how long, and the records it held."""

    segment: str  # the segment's name without suffix, e.g. seg-123-00000001-ab12cd34
    offset: int
    length: int
    records: int  # records lost; a lower bound unless `exact`
    exact: bool

    def describe(self) -> str:
        """One line for a warning: the segment, the offset and the rows lost."""
        lost = f"{self.records:,}" if self.exact else f"at least {self.records:,}"
        rows = "record" if self.records == 1 else "records"
        return (
            f"prediction log segment {self.segment}: {self.length:,} damaged bytes at offset "
            f"{self.offset:,} skipped, {lost} {rows} lost (bytes kept in {QUARANTINE}/)"
        )


def quarantine_dir(segments: str | Path) -> Path:
    """Where the damaged bytes of the segments in `segments` are kept."""
    return Path(segments) / QUARANTINE


def keep(segments: str | Path, damage: Damage, data: bytes) -> Path:
    """Write a damaged range's bytes and its description into quarantine; the .bin path."""
    folder = quarantine_dir(segments)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{damage.segment}-{damage.offset:012d}"
    path = write_bytes_atomic(folder / f"{stem}.bin", data)
    write_text_atomic(folder / f"{stem}.json", json.dumps(asdict(damage), indent=2) + "\n")
    fd = os.open(folder, os.O_RDONLY)  # durable before the segment holding the bytes goes
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def kept(segments: str | Path) -> list[Damage]:
    """Every damaged range kept in quarantine so far, by name."""
    folder = quarantine_dir(segments)
    if not folder.is_dir():
        return []
    return [Damage(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
