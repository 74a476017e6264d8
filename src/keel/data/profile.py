"""Profiles: per-column statistics of a data set, computed batch by batch and mergeable.

A `Profile` holds one `ColumnProfile` (`keel.data.column`) per column. `profile_batches`
builds it from any stream of Arrow record batches, one batch at a time, so memory does not grow
with the rows, and it needs nothing but the batches: no keel.toml, no file (Spark runs it on
each partition). Profiles of parts of a data set merge into the profile of the whole (`merge`,
`Profile.merge`), and travel as a JSON-ready dict (`to_dict`/`from_dict`), as bytes
(`to_bytes`/`from_bytes`) or as a file (`write_profile`/`read_profile`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from keel.atomic import write_text_atomic
from keel.data._update import retype, update
from keel.data.column import ColumnProfile, type_name
from keel.errors import DataError

__all__ = [
    "Profile",
    "merge",
    "profile_batches",
    "read_profile",
    "write_profile",
]

FORMAT = "keel.profile"
VERSION = 1


@dataclass(eq=False)
class Profile:
    """The profiles of a data set's columns, in data order."""

    columns: dict[str, ColumnProfile]
    rows: int = 0
    batches: int = 0
    source: str = ""

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise DataError(
                f"{self.source or 'profile'}: no column {name!r}; "
                f"the columns are {', '.join(self.columns)}"
            ) from None

    def merge(self, other: Profile) -> Profile:
        """The profile of both data sets' rows together; neither input changes."""
        return merge(self, other)

    def to_dict(self, *, summary: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; `summary` adds a readable digest of each column (not read back)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "source": self.source,
            "rows": self.rows,
            "batches": self.batches,
            "columns": {n: c.to_dict(summary=summary) for n, c in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The inverse of `to_dict`; a ValueError, KeyError or TypeError when malformed."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f'not a Keel profile (expected "format": "{FORMAT}")')
        if data.get("version") != VERSION:
            raise ValueError(f"profile format version {data.get('version')!r}; expected {VERSION}")
        columns = {name: ColumnProfile.from_dict(name, c) for name, c in data["columns"].items()}
        return cls(columns, int(data["rows"]), int(data["batches"]), str(data["source"]))

    def to_bytes(self) -> bytes:
        """The profile as compact UTF-8 JSON, without the readable summary: to send or store."""
        return json.dumps(self.to_dict(summary=False), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """The inverse of `to_bytes`; a ValueError, KeyError or TypeError when malformed."""
        return cls.from_dict(json.loads(data.decode("utf-8")))


def profile_batches(batches: pa.Table | Iterable[pa.RecordBatch], *, source: str = "") -> Profile:
    """Profile record batches, one at a time; a `DataError` if there are no rows."""
    if isinstance(batches, pa.Table):
        batches = batches.to_batches()
    where = source or "data"
    columns: dict[str, ColumnProfile] | None = None
    rows = count = 0
    for batch in batches:
        if columns is None:
            columns = {f.name: ColumnProfile.empty(f.name, f.type) for f in batch.schema}
        elif batch.schema.names != list(columns):
            _column_mismatch(where, list(columns), batch.schema.names, count)
        if not batch.num_rows:
            continue
        count += 1
        rows += batch.num_rows
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            col = columns[name]
            if col.type != type_name(array.type):
                retype(col, array.type, where, count)
            update(col, array)
    if columns is None or rows == 0:
        raise DataError(f"{where}: the data is empty (0 rows)")
    for col in columns.values():
        col.__dict__.pop("_dictionary", None)
    return Profile(columns, rows, count, source)


def _column_mismatch(where: str, expected: list[str], got: list[str], batch: int) -> None:
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    detail = "; ".join(
        part
        for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"new {', '.join(extra)}" if extra else "",
            "columns in another order" if not (missing or extra) else "",
        )
        if part
    )
    raise DataError(f"{where}: batch {batch + 1} has other columns than the first: {detail}")


def merge(a: Profile, b: Profile) -> Profile:
    """The profile of the rows of both; the two must have the same columns."""
    if set(a.columns) != set(b.columns):
        only_a = sorted(set(a.columns) - set(b.columns))
        only_b = sorted(set(b.columns) - set(a.columns))
        detail = "; ".join(
            f"{', '.join(cols)} only in {src or 'one'}"
            for cols, src in ((only_a, a.source), (only_b, b.source))
            if cols
        )
        raise DataError(f"profiles of different columns cannot be merged: {detail}")
    where = " + ".join(s for s in (a.source, b.source) if s) or "profiles"
    columns = {}
    for name, col in a.columns.items():
        columns[name] = col.merge(b.columns[name], where=where)
    source = a.source if a.source == b.source else where
    return Profile(columns, a.rows + b.rows, a.batches + b.batches, source)


def join_columns(parts: list[Profile], names: list[str], source: str) -> Profile:
    """One profile from profiles of disjoint columns of the same rows."""
    columns: dict[str, ColumnProfile] = {}
    for part in parts:
        if part.rows != parts[0].rows:
            raise DataError(f"{source}: the source changed while it was read; profile it again")
        columns.update(part.columns)
    batches = max(part.batches for part in parts)  # columns may break into batches apart
    return Profile({n: columns[n] for n in names}, parts[0].rows, batches, source)


# -- files -----------------------------------------------------------------------------------


def write_profile(profile: Profile, path: str | Path) -> Path:
    """Write a profile as JSON, atomically: the file is the old one or the new one, whole."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise DataError(f"{path}: cannot write the profile: no folder {path.parent}")
    try:
        return write_text_atomic(path, json.dumps(profile.to_dict(), indent=1) + "\n")
    except OSError as exc:
        raise DataError(f"{path}: cannot write the profile: {exc.strerror or exc}") from None


def read_profile(path: str | Path) -> Profile:
    """Read a profile written by `write_profile`; a `DataError` for anything else."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"{path}: no such profile; write one with `keel profile DATA -o {path}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not a Keel profile: not valid JSON ({exc})") from None
    try:
        return Profile.from_dict(data)
    except Exception as exc:  # malformed fields or sketches: every way is the same to a user
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
        raise DataError(f"{path}: not a Keel profile, or a damaged one: {what}") from None
