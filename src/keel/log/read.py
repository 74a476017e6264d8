"""Everything the prediction log holds so far, rolled into Parquet or still in segments.

A canary's comparison, `keel logs query` (and any reader that cannot wait for a segment to be
sealed) needs the rows running servers logged a moment ago. `served_rows` rolls what is closed
(exactly once, see `keel.log.rollup`), reads the rolled Parquet for the period asked, then adds
the complete records of the segments still being written (a reader stops at a torn tail, so a
record being appended is either whole or not seen). A roll by another process between the two
reads can show a record twice or not at all for that one read; nothing stored changes.

`query_live` runs SQL over the rolled parts and the segments not rolled yet (open ones, and
closed ones sealed since the last roll), without disturbing their writers and without rolling
them. Design: the complete records of each such segment are typed exactly as the roll-up would
type them (`rollup.segment_tables`) and written as Parquet under a temporary folder outside the
log, laid out like `rolled/` (`date=…/model_version=…/part-<segment>.parquet`); the views
`records`, `predictions` and `rejected` of that one query read the rolled parts and these
together, so a column has the same type and meaning whether its row is rolled or not. Nothing
is written to `rolled/` and the temporary folder is removed after the query. Each row is
counted once even when a roll runs meanwhile: the segments are read first, then the rolled
parts are listed leaving out those named after a segment already read (a roll names a part
after its segment).

`keel monitor` does not read open segments: its intake takes sealed, rolled parts exactly once,
so a row reaches it at most `[serve] seal_seconds` after it was served (plus the monitor's
period).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import KeelError
from keel.log.record import FIELDS, ROUTE_REJECTED
from keel.log.rollup import query_files, roll, rolls_paused, segment_tables
from keel.log.segments import CLOSED_SUFFIX, OPEN_SUFFIX, read_segment
from keel.log.writer import rolled_dir, segments_dir

if TYPE_CHECKING:
    import pandas as pd


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _live_and_parts(log_root: Path, since: str | None) -> tuple[list[dict[str, Any]], list[Path]]:
    """Roll what is closed; then, with other rolls held off (`rolls_paused`), the complete
    records of the open segments and the rolled parts from `since`'s partitions: no batch moves
    from the one to the other between the two reads."""
    segments, rolled = segments_dir(log_root), rolled_dir(log_root)
    if segments.is_dir():
        roll(segments, rolled)
    if not rolled.is_dir() and not segments.is_dir():
        return [], []
    rolled.mkdir(parents=True, exist_ok=True)
    live: list[dict[str, Any]] = []
    with rolls_paused(rolled):
        for path in sorted(segments.glob("*" + OPEN_SUFFIX)) if segments.is_dir() else []:
            try:
                live += read_segment(path)
            except FileNotFoundError:  # closed meanwhile; seen by the next read
                continue
        parts = _parts_from(rolled, _first_day(since))
    return live, parts


def _first_day(since: str | None) -> str | None:
    """The oldest partition date a read from `since` needs: the day before its UTC date (a
    partition's date is the logged time's own date, which its offset may put a day off UTC)."""
    if since is None:
        return None
    import pandas as pd  # here: `keel logs query` starts without it

    moment = pd.Timestamp(since)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return (moment - pd.Timedelta(days=1)).date().isoformat()


def _parts_from(rolled: Path, day: str | None) -> list[Path]:
    """The rolled parts of the partitions dated `day` or later (all when None)."""
    return [
        p
        for p in sorted(rolled.glob("date=*/**/*.parquet"))
        if day is None or p.relative_to(rolled).parts[0].removeprefix("date=") >= day
    ]


def served_rows(log_root: str | Path, since: str | None = None) -> pd.DataFrame:
    """One row per logged prediction at or after `since` (ISO time; None: all), with FIELDS;
    rows the server refused (route "rejected") are not predictions and are left out. With
    `since`, only the partitions of that period are read, and never the logged inputs: a
    canary's comparison costs its own period, not the log's life.

    `probabilities` is a dict per row (or None); `time` is text as logged; a field a record
    lacks (an `error` when none occurred) is None.
    """
    import pandas as pd  # here: `keel logs query` starts without it

    live, parts = _live_and_parts(Path(log_root), since)
    frames = []
    if parts:
        wanted = ", ".join(f"'{name}'" for name in FIELDS)
        sql = f"SELECT COLUMNS(lambda c: c IN ({wanted})) FROM predictions"
        frames.append(query_files(sql, parts).to_pandas())
    live = [r for r in live if r.get("route") != ROUTE_REJECTED]
    if live:
        frames.append(pd.DataFrame(live))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for name in FIELDS:
        if name not in frame.columns:
            frame[name] = None
    frame = frame[list(FIELDS)].copy()
    frame["probabilities"] = frame["probabilities"].map(_parsed)
    frame["model_version"] = pd.to_numeric(frame["model_version"], errors="coerce")
    if since is not None and len(frame):
        times = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
        frame = frame[times >= pd.Timestamp(since).tz_convert("UTC")].reset_index(drop=True)
    return frame


def _unrolled_parts(segments: Path, into: Path) -> set[str]:
    """Write the complete records of every segment of `segments` not rolled yet (open, or
    closed since the last roll) as Parquet parts under `into`, laid out as the roll-up lays
    out `rolled/`; the names (stems) of the segments read. Damaged frames and a torn tail are
    skipped here (the roll-up keeps and reports them once the segment is sealed)."""
    import pyarrow.parquet as pq

    read: set[str] = set()
    if not segments.is_dir():
        return read
    found = sorted(segments.glob("*" + OPEN_SUFFIX)) + sorted(segments.glob("*" + CLOSED_SUFFIX))
    for path in found:
        if path.stem in read:  # sealed between the two listings: read once
            continue
        tables = None
        for candidate in dict.fromkeys((path, path.with_suffix(CLOSED_SUFFIX))):  # sealed?
            try:
                tables, _ = segment_tables(candidate)
                break
            except FileNotFoundError:  # sealed, or rolled: then the rolled parts hold it
                continue
        if tables is None:
            continue
        read.add(path.stem)
        for (date, version), table in tables.items():
            part = into / f"date={date}" / f"model_version={version}"
            part.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, part / f"part-{path.stem}.parquet")
    return read


def query_live(sql: str, log_root: str | Path) -> Any:
    """Run `sql` over everything `log_root` holds: its rolled parts and the complete records of
    its segments not rolled yet (see the module doc); a pyarrow Table. The views are those of
    `keel.log.rollup.query`: `predictions`, `rejected` and `records`.

    Rolls nothing (roll first for the closed segments to be stored once). Raises KeelError
    when the log holds no record yet or DuckDB rejects the SQL.
    """
    log_root = Path(log_root)
    with tempfile.TemporaryDirectory(prefix="keel-live-") as scratch:
        rolled = rolled_dir(log_root)
        rolled.mkdir(parents=True, exist_ok=True)
        with rolls_paused(rolled):  # no batch moves from segments to parts between the reads
            read = _unrolled_parts(segments_dir(log_root), Path(scratch))
            parts = [
                p
                for p in sorted(rolled.glob("**/*.parquet"))
                if p.stem.removeprefix("part-") not in read  # an interrupted roll's leftover
            ]
        parts += sorted(Path(scratch).glob("**/*.parquet"))
        if not parts:
            raise KeelError(
                f"prediction log: no records under {log_root} (neither rolled nor in "
                "segments): nothing served yet?"
            )
        return query_files(sql, parts)
