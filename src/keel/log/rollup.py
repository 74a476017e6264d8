"""Roll closed prediction-log segments into Parquet, and query the result with DuckDB.

Layout: `out_dir/date=YYYY-MM-DD/model_version=N/part-<segment>.parquet` (hive partitioning;
the date is the UTC date of the record's `time`). `date` and `model_version` live in the path
only, so DuckDB reads them from it.

Exactly once: a segment's parts are named after the segment, each written to a temporary file
and renamed into place; the segment is deleted only after all its parts are in place. A crash in
between re-rolls the segment onto the same names, replacing, never duplicating.

Columns: a field whose values are all scalars of one kind (bool, int, float with int, str, with
nulls) is stored as that type; any other field (a dict of inputs, a list of probabilities, or a
field whose type varies between records) is stored as JSON text, which DuckDB reads with
`json_extract(inputs, '$.age')` or `inputs::JSON`. A record missing a field has null there.
Types are decided per partition of a segment.

How: column by column (`keel.log._columnar`): the framing and CRC of every record checked in
Python, then all payloads of the segment parsed at once by DuckDB's JSON reader and typed with
Arrow; JSON text comes out minified as DuckDB writes it: the same values the server logged,
though a number may be written another way (1e-05 as 0.00001) and a non-ASCII character as
UTF-8 rather than a \\u escape. A segment that way cannot take (a payload that is not UTF-8
or not an object, a repeated field, a time that is not text, a model_version that is not an
integer) is rolled record by record in Python (`_columns`), with the same column types.
"""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from keel.atomic import write_atomic
from keel.errors import KeelError, interrupted
from keel.log.quarantine import Damage
from keel.log.quarantine import keep as quarantine
from keel.log.record import ROUTE_REJECTED
from keel.log.segments import Gap, closed_segments, decode, fsync_dir, recover, remove

_PARTITION = ("model_version",)
KEEP_ROWS = 1_000_000  # rows of new parts `roll(keep=...)` hands back in memory at most


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

    pq.write_table(table, handle)


def _slow_tables(segment: Path) -> tuple[dict[tuple[str, int], Any], list[tuple[Gap, bytes]]]:
    """The segment's parts record by record in Python (any record the log can hold), and its
    damaged ranges with their bytes."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
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
    damaged = [(g, data[g.start : g.end]) for g in gaps]
    return {key: _table(records) for key, records in groups.items()}, damaged


def segment_tables(segment: Path) -> tuple[dict[tuple[str, int], Any], list[tuple[Gap, bytes]]]:
    """{(UTC date, model version): Arrow table} of one closed segment: columnar when
    `keel.log._columnar` can take it (the common case), else record by record; and the
    damaged ranges skipped, with their bytes."""
    from keel.log._columnar import Unsupported, columnar_tables

    try:
        return columnar_tables(segment)
    except Unsupported:
        return _slow_tables(segment)


@dataclass
class RollResult:
    """What one roll did: the records rolled into Parquet and the damaged ranges it met (each
    skipped, its bytes kept in quarantine, `keel.log.quarantine`)."""

    rows: int = 0
    damaged: list[Damage] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per damaged range, naming the segment and the records lost."""
        return [d.describe() for d in self.damaged]


def roll(
    folder: str | Path, out_dir: str | Path, *, keep: dict[Path, Any] | None = None
) -> RollResult:
    """Recover dead writers' segments in `folder`, roll every closed one into `out_dir`.

    Returns the records rolled and the damaged ranges met. Segments of live writers are left
    for later. Two rolls at once are safe: both write the same parts under the same names. A
    damaged frame is skipped (the records around it are rolled) and its bytes kept in
    quarantine; a segment is deleted only once its parts and its quarantined bytes are
    durably in place, so an interrupted roll (Ctrl-C, a crash) leaves no half-written file
    and loses nothing: the next roll re-rolls the segment onto the same names. `keep`, when
    given, receives {part path: Arrow table as written} for up to KEEP_ROWS rows, so a
    caller about to read the new parts (`keel.monitor.intake`) need not read them back.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    torn: list[Damage] = []
    recover(folder, torn)
    result = RollResult()
    with ThreadPoolExecutor(2) as pool:  # a segment's parts are written side by side
        for segment in list(closed_segments(folder)):
            try:
                tables, gaps = segment_tables(segment)
            except FileNotFoundError:  # another roll (a server, the CLI) took it meanwhile
                continue
            for gap, data in gaps:
                damage = Damage(
                    segment.stem, gap.start, gap.end - gap.start, gap.records, gap.exact
                )
                quarantine(folder, damage, data)
                result.damaged.append(damage)
            writes = []
            for (date, version), table in sorted(tables.items()):
                part = out_dir / f"date={date}" / f"model_version={version}"
                part.mkdir(parents=True, exist_ok=True)
                path = part / f"part-{segment.stem}.parquet"
                write = partial(_write_parquet, table)
                writes.append((part, path, table, pool.submit(write_atomic, path, write)))
            for part, path, table, written in writes:
                written.result()
                fsync_dir(part)  # the part's rename must be durable before the segment goes
                result.rows += table.num_rows
                if keep is not None and result.rows <= KEEP_ROWS:
                    keep[path] = table
            remove(segment)
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
    import duckdb

    out_dir = Path(out_dir)
    if not out_dir.is_dir() or not any(out_dir.glob("**/*.parquet")):
        raise KeelError(f"prediction log: no rolled records under {out_dir}: nothing served yet?")
    pattern = str(out_dir / "**" / "*.parquet").replace("'", "''")
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE VIEW records AS SELECT * FROM read_parquet("
            f"'{pattern}', hive_partitioning = true, union_by_name = true)"
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
