"""Roll closed prediction-log segments into Parquet, and query the result with DuckDB.

Layout: `out_dir/date=YYYY-MM-DD/model_version=N/part-<segment>.parquet` (hive partitioning;
the date is the UTC date of the record's `time`). `date` and `model_version` live in the path
only, so DuckDB reads them from it.

Exactly once: a segment's parts are named after the segment, each written to a temporary file
and renamed into place; the segment is deleted only after all its parts are in place. A crash in
between re-rolls the segment onto the same names, replacing, never duplicating.

Columns: a field whose values are all scalars of one kind (bool, int, float with int, str, with
nulls) is stored as that type; any other field (a dict of inputs, a list of probabilities, or a
field whose type varies between records) is stored as a JSON string, which DuckDB reads with
`json_extract(inputs, '$.age')` or `inputs::JSON`. A record missing a field has null there.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keel.atomic import write_bytes_atomic
from keel.errors import KeelError
from keel.serve.segments import closed_segments, fsync_dir, read_segment, recover, remove

_PARTITION = ("model_version",)


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


def _parquet_bytes(records: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(records)
    table = pa.table(columns) if columns else pa.table({"_empty": [None] * len(records)})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def roll(folder: str | Path, out_dir: str | Path) -> int:
    """Recover dead writers' segments in `folder`, roll every closed one into `out_dir`.

    Returns the number of records rolled. Segments of live writers are left for later. Two
    rolls at once are safe: both write the same parts under the same names.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    recover(folder)
    rolled = 0
    for segment in list(closed_segments(folder)):
        groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        try:
            segment_records = read_segment(segment)
        except FileNotFoundError:  # another roll (a server, the CLI) took it meanwhile
            continue
        for record in segment_records:
            try:
                key = (_utc_date(record["time"]), int(record["model_version"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise KeelError(
                    f"{segment}: a record without a valid time/model_version ({exc}); "
                    "the prediction log needs both"
                ) from None
            groups[key].append(record)
        for (date, version), records in sorted(groups.items()):
            part = out_dir / f"date={date}" / f"model_version={version}"
            part.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(part / f"part-{segment.stem}.parquet", _parquet_bytes(records))
            fsync_dir(part)  # the part's rename must be durable before the segment goes
            rolled += len(records)
        remove(segment)
    return rolled


def query(sql: str, out_dir: str | Path) -> Any:
    """Run `sql` over the view `predictions` (every rolled part under `out_dir`); a pyarrow Table.

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
            "CREATE VIEW predictions AS SELECT * FROM read_parquet("
            f"'{pattern}', hive_partitioning = true, union_by_name = true)"
        )
        relation = con.sql(sql)
        if relation is None:
            raise KeelError("prediction log query: the SQL returned no result; use a SELECT")
        return relation.to_arrow_table()
    except duckdb.Error as exc:
        raise KeelError(f"prediction log query failed: {exc}") from None
    finally:
        con.close()
