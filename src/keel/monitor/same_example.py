"""The same example at training and serving: a window's served inputs joined by id.

A row served with an `example_id` the training data also holds should carry the raw values the
training row has; where it does not, serving reads a feature from another place or in another
way than training did (a feature store's online and offline paths, a cache, a late join).
`same_example_skew` takes the rows logged in one window (every model version), parses their
raw inputs and compares them with the training rows of the same id, column by column
(`keel.data.idskew`, whose rules both engines share). `same_example_skew_on_spark` does the
same as Spark jobs: the window's rows read and filtered in Spark, their inputs parsed with
`from_json` into the training columns' types, the join by id in Spark.

Only the dates the window touches are read (`date=YYYY-MM-DD` folders of the rolled log).

monitor.3's part (d): `same_example` joins one window's served rows to the training source
(`[data] train`, every row of it) on the engine the log was taken on, and says why when
nothing was compared (no `[system] id`, no served id in the training data); an input whose
share of differing rows exceeds `[monitor] max_skewed_share` fails monitor.3, judged in
`keel.monitor.skew` as part (a)'s shares are. Nothing compared neither passes nor fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from keel.data.idskew import IdSkew, id_skew, id_skew_frame
from keel.monitor.intake import json_table
from keel.monitor.state import MonitorState

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_COLUMNS = ("example_id", "time", "inputs")


def _bounds(start: str, seconds: float) -> tuple[datetime, datetime]:
    begin = datetime.fromisoformat(start)
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=UTC)
    return begin, begin + timedelta(seconds=seconds)


def window_files(rolled: Path, start: str, seconds: float) -> list[Path]:
    """The rolled parts of every date the window [start, start + seconds) touches that log
    an example id, a time and the raw inputs."""
    begin, end = _bounds(start, seconds)
    day, files = begin.astimezone(UTC).date(), []
    while day <= (end - timedelta(microseconds=1)).astimezone(UTC).date():
        files += sorted(rolled.glob(f"date={day.isoformat()}/model_version=*/*.parquet"))
        day += timedelta(days=1)
    return [p for p in files if set(_COLUMNS) <= set(pq.read_schema(p).names)]


def window_inputs(rolled: Path, start: str, seconds: float) -> pa.Table | None:
    """The example id and raw inputs of every row logged in the window; None without rows."""
    begin, end = _bounds(start, seconds)
    tables = []
    lo, hi = _micros(begin), _micros(end)
    for path in window_files(rolled, start, seconds):
        table = pq.read_table(path, columns=list(_COLUMNS))
        times = pc.cast(pc.cast(table.column("time"), pa.timestamp("us", "UTC")), pa.int64())
        keep = pc.and_(pc.greater_equal(times, lo), pc.less(times, hi))
        tables.append(table.filter(keep).select(["example_id", "inputs"]))
    rows = pa.concat_tables(tables) if tables else None
    if rows is None or rows.num_rows == 0:
        return None
    inputs = json_table(rows.column("inputs"))
    if inputs is None:
        return None
    return inputs.append_column("example_id", rows.column("example_id").combine_chunks())


def same_example_skew(
    rolled: Path, start: str, seconds: float, training: pa.Table, *, id: str, columns: Sequence[str]
) -> dict[str, IdSkew]:
    """Per raw input: the window's served rows whose id is in the training data, and those
    whose value differs from the training row's (see the module docstring)."""
    served = window_inputs(rolled, start, seconds)
    if served is None:
        return {}
    served = served.drop_columns([c for c in (id,) if c in served.column_names])
    served = served.rename_columns([id if c == "example_id" else c for c in served.column_names])
    shared = [c for c in columns if c in served.column_names and c in training.column_names]
    if not shared:
        return {}
    return id_skew(served, training, id=id, columns=shared)


def same_example_skew_on_spark(
    spark: SparkSession,
    rolled: Path,
    start: str,
    seconds: float,
    training: DataFrame,
    *,
    id: str,
    columns: Sequence[str],
) -> dict[str, IdSkew]:
    """`same_example_skew` as Spark jobs, against the training data as a Spark DataFrame."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    files = window_files(rolled, start, seconds)
    if not files:
        return {}
    begin, end = _bounds(start, seconds)
    fields = {f.name: f for f in training.schema.fields}
    shared = [c for c in columns if c in fields and c != id]
    if not shared:
        return {}
    log = spark.read.parquet(*[str(p) for p in files])
    at = F.to_timestamp("time")
    window = log.filter((F.unix_micros(at) >= _micros(begin)) & (F.unix_micros(at) < _micros(end)))
    schema = StructType([fields[c] for c in shared])
    parsed = window.select(
        F.col("example_id").alias(id), F.from_json("inputs", schema).alias("_keel_inputs")
    )
    present = _served_keys(window)
    served = parsed.select(
        id, *[F.col(f"_keel_inputs.{c}").alias(c) for c in shared if c in present]
    )
    return id_skew_frame(served, training, id=id, columns=[c for c in shared if c in present])


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _served_keys(window: DataFrame) -> set[str]:
    """The input names the window's logged rows carry (a column the server never logged is
    not compared, as the local engine's parse would not have it)."""
    from pyspark.sql import functions as F

    keys = window.select(F.explode(F.json_object_keys("inputs")).alias("k")).distinct()
    return {row["k"] for row in keys.collect()}


@dataclass
class SameExample:
    """What part (d) compared in one window, per raw input; `note` says why nothing was."""

    found: dict[str, IdSkew] = field(default_factory=dict)
    note: str = ""

    @property
    def compared(self) -> int:
        return max((s.compared for s in self.found.values()), default=0)


def same_example(
    state: MonitorState,
    window: str,
    skip: set[str],
    *,
    id: str | None,
    seconds: float,
    source: Any,
    root: Path,
) -> SameExample:
    """Part (d) on the window starting at `window` (every model version served in it): the
    served rows joined by `id` to the training `source` (`[data] train`, relative to `root`),
    every raw input but `skip` compared, on the engine `state` was taken on."""
    from keel.log.writer import rolled_dir

    if id is None:
        return SameExample(note="no [system] id: served rows cannot be joined to training rows")
    rolled = rolled_dir(state.log_root)
    if state.spark is None:
        from keel.data.sources import read_table

        training = read_table(source, root, key="[data] train")
        columns = [c for c in training.column_names if c not in skip]
        found = same_example_skew(rolled, window, seconds, training, id=id, columns=columns)
    else:
        from keel.data.spark import read_source, session

        spark = session(state.spark)
        frame = read_source(spark, source, root, key="[data] train")
        columns = [c for c in frame.columns if c not in skip]
        found = same_example_skew_on_spark(
            spark, rolled, window, seconds, frame, id=id, columns=columns
        )
    result = SameExample(found)
    if not result.compared:
        result.note = "no served example id is in the training data"
    return result
