"""Roll closed prediction-log segments into Parquet, and query the result with DuckDB.

Layout: `out_dir/date=YYYY-MM-DD/model_version=N/part-<segment>.parquet` (hive partitioning;
the date is the UTC date of the record's `time`). `date` and `model_version` live in the path
only, so DuckDB reads them from it.

Exactly once: closed segments are rolled in batches (up to BATCH_BYTES together, so a log
sealed every minute does not make a part a minute); a batch's parts are named after its first
segment, each written to a temporary file and renamed into place. A journal naming the batch's
segments and parts is written first, and the segments are deleted only after all the parts are
in place; a crash in between is finished by the next roll from the journal (the segments
deleted when every part is there, else the same segments rolled again onto the same names,
replacing, never duplicating). Rolls of one folder take turns under a lock.

Columns: a field whose values are all scalars of one kind (bool, int, float with int, str, with
nulls) is stored as that type; any other field (a dict of inputs, a list of probabilities, or a
field whose type varies between records) is stored as JSON text, which DuckDB reads with
`json_extract(inputs, '$.age')` or `inputs::JSON`. A record missing a field has null there.
Types are decided per partition of a batch.

How: column by column (`keel.log._columnar`): the framing and CRC of every record checked in
Python, then each field's JSON text cut out of the payloads as logged (`keel.log._spans`: no
parse, when every record has the first one's fields in its order, minified, as Keel's server
writes them), else all payloads parsed at once by DuckDB's JSON reader, and typed with Arrow.
Cut, JSON text is stored exactly as logged; parsed by DuckDB, it comes out minified as DuckDB
writes it: the same values, though a number may be written another way (1e-05 as 0.00001)
and a non-ASCII character as UTF-8 rather than a \\u escape. A segment that way cannot take
(a payload that is not UTF-8 or not an object, a repeated field, a time that is not text, a
model_version that is not an integer) is rolled record by record in Python (`_columns`),
with the same column types.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from keel.atomic import write_atomic, write_text_atomic
from keel.errors import KeelError, interrupted
from keel.log.quarantine import Damage
from keel.log.quarantine import keep as quarantine
from keel.log.record import ROUTE_REJECTED
from keel.log.segments import Gap, closed_segments, decode, fsync_dir, recover

_PARTITION = ("model_version",)
KEEP_ROWS = 1_000_000  # rows of new parts `roll(keep=...)` hands back in memory at most
# Closed segments rolled together: a log sealed every minute holds 1,440 small segments a day,
# and one part per segment would make every reader of the log open them all.
BATCH_BYTES = 64 * 1024 * 1024
MIN_BATCH_BYTES = 8 * 1024 * 1024  # a small roll's batches: a quarter of it, at least this
AHEAD = 1  # batches read and parsed ahead of the one being written (memory: AHEAD + 1 batches)
LOCK = ".roll.lock"  # in the rolled folder: one roll at a time
JOURNAL = ".rolling"  # in the rolled folder: the batch being rolled (segments, parts)


def _utc_date(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return "json"


def _columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Column-wise values, non-scalar or mixed fields as JSON strings (see the module doc)."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(k for k in record if k not in _PARTITION))
    columns: dict[str, list[Any]] = {}
    for name in names:
        values = [record.get(name) for record in records]
        kinds = {_kind(v) for v in values} - {None}
        if len(kinds) > 1 or kinds == {"json"}:
            values = [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
        elif kinds == {"number"}:
            if any(isinstance(v, float) for v in values):
                values = [None if v is None else float(v) for v in values]
            elif any(abs(v) >= 2**63 for v in values if v is not None):
                values = [None if v is None else str(v) for v in values]
        columns[name] = values
    return columns


def _table(records: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    columns = _columns(records)
    return pa.table(columns) if columns else pa.table({"_empty": [None] * len(records)})


def _write_parquet(table: Any, handle: BinaryIO) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, handle, use_dictionary=repeating_columns(table))


_PEEK = 1_000  # rows looked at to tell a column of repeated values


def repeating_columns(table: Any) -> list[str]:
    """The columns worth dictionary-encoding: all but text that hardly repeats (ids, times,
    the JSON of inputs), whose dictionary Parquet would build only to drop it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            head = column.slice(0, _PEEK)
            if len(head) >= 100 and pc.count_distinct(head).as_py() > len(head) // 2:
                continue
        out.append(name)
    return out


def _slow_tables(segment: Path) -> tuple[dict[tuple[str, int], Any], list[tuple[Gap, bytes]]]:
    """One segment's parts record by record, and its damaged ranges with their bytes."""
    tables, damaged = _slow_batch([segment])
    return tables, [(gap, data) for _, gap, data in damaged]


def _slow_batch(
    segments: list[Path],
) -> tuple[dict[tuple[str, int], Any], list[tuple[Path, Gap, bytes]]]:
    """The parts of `segments` record by record in Python (any record the log can hold), and
    their damaged ranges: segment, range and bytes."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    damaged: list[tuple[Path, Gap, bytes]] = []
    for segment in segments:
        data = segment.read_bytes()
        records, gaps = decode(data)
        for record in records:
            try:
                key = (_utc_date(record["time"]), int(record["model_version"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise KeelError(
                    f"{segment}: a record without a valid time/model_version ({exc}); "
                    "the prediction log needs both"
                ) from None
            groups[key].append(record)
        damaged += [(segment, g, data[g.start : g.end]) for g in gaps]
    return {key: _table(records) for key, records in groups.items()}, damaged


def segment_tables(segment: Path) -> tuple[dict[tuple[str, int], Any], list[tuple[Gap, bytes]]]:
    """{(UTC date, model version): Arrow table} of one closed segment: columnar when
    `keel.log._columnar` can take it (the common case), else record by record; and the
    damaged ranges skipped, with their bytes."""
    tables, damaged = batch_tables([segment])
    return tables, [(gap, data) for _, gap, data in damaged]


def batch_tables(
    segments: list[Path],
) -> tuple[dict[tuple[str, int], Any], list[tuple[Path, Gap, bytes]]]:
    """{(UTC date, model version): Arrow table} of closed segments rolled together (columnar
    when it can, else record by record), and the damaged ranges skipped: segment, range,
    bytes."""
    from keel.log._columnar import Unsupported, columnar_batch

    try:
        return columnar_batch(segments)
    except Unsupported:
        return _slow_batch(segments)


@dataclass
class RollResult:
    """What one roll did: the records rolled into Parquet and the damaged ranges it met (each
    skipped, its bytes kept in quarantine, `keel.log.quarantine`)."""

    rows: int = 0
    damaged: list[Damage] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per damaged range, naming the segment and the records lost."""
        return [d.describe() for d in self.damaged]


Taken = Callable[[Path, Any], None]  # (part path, Arrow table as written) -> None


def batches(segments: list[Path], limit: int | None = None) -> list[list[Path]]:
    """`segments` in order, cut into runs of at most `limit` bytes (a larger one alone);
    by default `_batch_bytes` of their total size."""
    sized: list[tuple[Path, int]] = []
    for segment in segments:
        try:
            sized.append((segment, segment.stat().st_size))
        except FileNotFoundError:  # rolled by a roll that ended meanwhile
            continue
    if limit is None:
        limit = _batch_bytes(sum(length for _, length in sized))
    out: list[list[Path]] = []
    size = 0
    for segment, length in sized:
        if out and size + length <= limit:
            out[-1].append(segment)
            size += length
        else:
            out.append([segment])
            size = length
    return out


def _batch_bytes(total: int) -> int:
    """The batch size for rolling `total` bytes of segments: BATCH_BYTES, or a quarter of a
    small roll (at least MIN_BATCH_BYTES), so that a few minutes of traffic still make batches
    enough for the next one's parse to overlap this one's write and summary."""
    return max(MIN_BATCH_BYTES, min(BATCH_BYTES, total // 4))


def pending(folder: str | Path) -> int:
    """How many batches of closed segments the next roll of `folder` takes (for progress)."""
    return len(batches(list(closed_segments(folder))))


@contextmanager
def _roll_lock(out_dir: Path, mode: int = fcntl.LOCK_EX) -> Iterator[None]:
    """One roll into `out_dir` at a time, across threads and processes (a `flock` on its
    `.roll.lock`, dropped by the kernel if its holder dies)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


@contextmanager
def rolls_paused(out_dir: str | Path) -> Iterator[None]:
    """No roll into `out_dir` runs while this is held (a shared lock: readers do not wait
    for one another). A reader of the segments not rolled yet and of the rolled parts together
    holds it, so no batch moves from one to the other between its two reads: a batch's part
    is named after its first segment only, so names cannot tell which segments it holds."""
    with _roll_lock(Path(out_dir), fcntl.LOCK_SH):
        yield


def _journal(out_dir: Path, name: str) -> Path:
    return out_dir / JOURNAL / f"{name}.json"


def _roll_batch(
    folder: Path,
    out_dir: Path,
    segments: list[Path],
    result: RollResult,
    pool: ThreadPoolExecutor,
    taken: Taken | None,
    read: Future | None = None,
    sweep: Callable[[Path, list[Path], Path], None] | None = None,
) -> None:
    """Roll `segments` into one part per (date, version), named after the first of them;
    the journal first, the parts, then the segments go, then the journal. `read`: their
    `batch_tables`, when already under way; `sweep`: what deletes the segments and the
    journal (default `_sweep`, here and now)."""
    name = segments[0].stem
    tables, gaps = read.result() if read is not None else batch_tables(segments)
    for segment, gap, data in gaps:
        damage = Damage(segment.stem, gap.start, gap.end - gap.start, gap.records, gap.exact)
        quarantine(folder, damage, data)
        result.damaged.append(damage)
    written = []
    for date, version in sorted(tables):
        part = out_dir / f"date={date}" / f"model_version={version}"
        written.append((part, part / f"part-{name}.parquet", tables[(date, version)]))
    journal = _journal(out_dir, name)
    journal.parent.mkdir(exist_ok=True)
    entry = {"segments": [s.name for s in segments]}
    entry["parts"] = [str(path.relative_to(out_dir)) for _, path, _ in written]
    write_text_atomic(journal, json.dumps(entry))
    fsync_dir(journal.parent)
    writes = []
    for part, path, table in written:
        part.mkdir(parents=True, exist_ok=True)
        writes.append(pool.submit(write_atomic, path, partial(_write_parquet, table)))
    for (part, _, _), write in zip(written, writes, strict=True):
        write.result()
        fsync_dir(part)  # the part's rename must be durable before the segments go
    for _, path, table in written:
        result.rows += table.num_rows
        if taken is not None:
            taken(path, table)
    (sweep or _sweep)(folder, segments, journal)


def _sweep(folder: Path, segments: list[Path], journal: Path) -> None:
    """A rolled batch's segments deleted, then its journal (every part is durably in place).
    Deleting is slow on some disks (ext4 mounted with `discard` waits on each file), so a
    roll does it in a thread of its own while it parses and writes the next batch."""
    for segment in segments:
        with contextlib.suppress(FileNotFoundError):
            segment.unlink()
    fsync_dir(folder)
    journal.unlink()
    fsync_dir(journal.parent)


def _finish_journals(
    folder: Path, out_dir: Path, result: RollResult, pool: ThreadPoolExecutor
) -> None:
    """Finish the batches a roll that died left: the segments go when every part is in
    place, else the same segments are rolled again onto the same names."""
    for journal in sorted((out_dir / JOURNAL).glob("*.json")):
        entry = json.loads(journal.read_text(encoding="utf-8"))
        segments = [folder / s for s in entry["segments"] if (folder / s).exists()]
        if segments and not all((out_dir / p).exists() for p in entry["parts"]):
            if segments[0].stem != journal.stem:  # a part is missing, so nothing went yet
                raise KeelError(
                    f"{journal}: the roll-up's journal names segments that are gone while "
                    "parts are missing; the log was changed by hand"
                )
            _roll_batch(folder, out_dir, segments, result, pool, None)
            continue
        for segment in segments:
            segment.unlink()
        fsync_dir(folder)
        journal.unlink()
        fsync_dir(journal.parent)


def roll(
    folder: str | Path,
    out_dir: str | Path,
    *,
    keep: dict[Path, Any] | None = None,
    taken: Taken | None = None,
) -> RollResult:
    """Recover dead writers' segments in `folder`, roll every closed one into `out_dir`.

    Returns the records rolled and the damaged ranges met. Segments of live writers are left
    for later. Rolls of one folder take turns (a lock). Closed segments are rolled in
    batches of up to BATCH_BYTES, one part per (date, version) and batch, named after the
    batch's first segment. A batch's journal (which segments, which parts) is written
    before its parts, and its segments are deleted only once every part is durably in place,
    so an interrupted roll (Ctrl-C, a crash) leaves no half-written file and loses nothing:
    the next roll finishes the batch from its journal (deleting the segments when every
    part is there, else rolling the same segments onto the same names). A damaged frame is
    skipped (the records around it are rolled) and its bytes kept in quarantine first.
    `taken`, when given, is called with each new part and its Arrow table once the batch's
    parts are all in place (before its segments go), so a caller summarising new parts
    (`keel.monitor.intake`) need not read them back; `keep`, when given, receives {part
    path: table} for up to KEEP_ROWS rows.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    torn: list[Damage] = []
    result = RollResult()

    def hand_back(path: Path, table: Any) -> None:
        if keep is not None and result.rows <= KEEP_ROWS:
            keep[path] = table
        if taken is not None:
            taken(path, table)

    sweeps: list[Future] = []
    with _roll_lock(out_dir), ThreadPoolExecutor(2) as pool:  # parts written side by side
        recover(folder, torn)
        _finish_journals(folder, out_dir, result, pool)
        todo = batches(list(closed_segments(folder)))
        # the next batches are read and parsed while this one is written and handed back,
        # and the rolled ones' segments deleted (in order) while the next is rolled; every
        # deletion is over before the lock is let go
        with ThreadPoolExecutor(AHEAD) as reader, ThreadPoolExecutor(1) as sweeper:

            def sweep_later(*batch: Any) -> None:  # the journal finishes it if we die first
                sweeps.append(sweeper.submit(_sweep, *batch))

            reads = [reader.submit(batch_tables, b) for b in todo[:AHEAD]]
            for i, batch in enumerate(todo):
                if i + AHEAD < len(todo):
                    reads.append(reader.submit(batch_tables, todo[i + AHEAD]))
                _roll_batch(folder, out_dir, batch, result, pool, hand_back, reads[i], sweep_later)
                reads[i] = None  # its tables go once written and handed back
                while sweeps and sweeps[0].done():
                    sweeps.pop(0).result()  # a failed deletion stops the roll
        for sweep in sweeps:
            sweep.result()
    seen = {(d.segment, d.offset) for d in result.damaged}
    result.damaged[:0] = [d for d in torn if (d.segment, d.offset) not in seen]
    return result


def query(sql: str, out_dir: str | Path) -> Any:
    """Run `sql` over the rolled parts under `out_dir`; a pyarrow Table. Three views:
    `predictions` (the rows served: a prediction or a failure of the model), `rejected` (the
    rows the server refused, route "rejected", with their anomalies and no prediction) and
    `records` (both). A log written before refused rows were logged has none.

    Raises KeelError when nothing has been rolled yet or DuckDB rejects the SQL.
    """
    out_dir = Path(out_dir)
    parts = sorted(out_dir.glob("**/*.parquet")) if out_dir.is_dir() else []
    if not parts:
        raise KeelError(f"prediction log: no rolled records under {out_dir}: nothing served yet?")
    return query_files(sql, parts)


def query_files(sql: str, parts: list[Path]) -> Any:
    """Run `sql` over the given Parquet parts of the log (laid out as `rolled/`); a pyarrow
    Table, with the views of `query`: `predictions`, `rejected`, `records`."""
    import duckdb

    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
    con = duckdb.connect()
    try:
        con.execute(
            f"CREATE VIEW records AS SELECT * FROM read_parquet([{listed}], "
            "hive_partitioning = true, union_by_name = true)"
        )
        names = {row[0] for row in con.execute("DESCRIBE records").fetchall()}
        served, refused = "true", "false"  # a log without routes has no refused rows
        if "route" in names:
            served = f"route::VARCHAR IS DISTINCT FROM '{ROUTE_REJECTED}'"
            refused = f"route::VARCHAR = '{ROUTE_REJECTED}'"
        con.execute(f"CREATE VIEW predictions AS SELECT * FROM records WHERE {served}")
        con.execute(f"CREATE VIEW rejected AS SELECT * FROM records WHERE {refused}")
        relation = con.sql(sql)
        if relation is None:
            raise KeelError("prediction log query: the SQL returned no result; use a SELECT")
        return relation.to_arrow_table()
    except duckdb.Error as exc:
        raise KeelError(f"prediction log query failed: {exc}") from None
    except RuntimeError as exc:  # Ctrl-C: DuckDB took the SIGINT; give it back as such
        if interrupted(exc):
            raise KeyboardInterrupt from None
        raise
    finally:
        con.close()
