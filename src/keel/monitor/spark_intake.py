"""The prediction log taken on Spark: the local intake's code on the executors, one part each.

`intake_on_spark` does what `keel.monitor.intake.intake` does, with the work on a Spark
cluster: it rolls what the servers closed, reads every rolled part not taken before as one
Spark DataFrame (parts of the same columns together), and groups it by part
(`applyInArrow`). On an executor each part's rows, back in their order in the file
(`_metadata.row_index`), go through `summarise_part`, the local intake's own function, so each
window's summary is the one the local engine computes. The rows whose model inputs are
recomputed for per-example skew (the samples `summarise_part` keeps, at most 459 per window)
travel back with the summary and the model's feature code reruns on the driver, where the
user's code and its imports are. The driver then writes each part's summaries and its `.done`
marker exactly as the local intake does, so the two engines can take turns on the same log.

A rolled part is the unit of work: it holds one roll of one server segment, so it fits in an
executor's memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from keel.data.spark import local_types
from keel.log.rollup import roll
from keel.log.writer import rolled_dir, segments_dir
from keel.monitor.intake import (
    IntakeRun,
    Rebuild,
    VersionedRebuild,
    apply_skew,
    part_name,
    record,
    rolled_parts,
    summarise_part,
    taken,
    version_of,
)
from keel.monitor.outputs import keep_outputs
from keel.monitor.stored import compact
from keel.monitor.summary import PartSummary

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_PART, _ROW = "_keel_part", "_keel_row"
_OUT = "part string, window string, summary string, sample binary"


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.BufferReader(blob)).read_all()


def _local_path(uri: str) -> str:
    """A path as Spark names a file ("file:/x/y.parquet", "file:///x/y.parquet")."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("file", "") else uri


def _summarise(
    rolled: Path, window_seconds: float, with_samples: bool
) -> Callable[[pa.Table], pa.Table]:
    def run(group: pa.Table) -> pa.Table:
        """On an executor: one rolled part's rows -> its window summaries (and skew samples)."""
        order = pc.sort_indices(group, [(_ROW, "ascending")])
        path = Path(_local_path(group.column(_PART)[0].as_py()))
        rows = local_types(group.take(order).drop_columns([_PART, _ROW]), {})
        samples: dict[str, pa.Table] | None = {} if with_samples else None
        summaries = summarise_part(
            path,
            version_of(path),
            window_seconds=window_seconds,
            label=part_name(path.relative_to(rolled)),
            table=rows,
            samples=samples,
        )
        return pa.table(
            {
                "part": [str(path)] * len(summaries),
                "window": [s.window for s in summaries],
                "summary": [json.dumps(s.to_dict()) for s in summaries],
                "sample": pa.array(
                    [_ipc(samples[s.window]) if samples else None for s in summaries], pa.binary()
                ),
            }
        )

    return run


def _same_columns(parts: list[Path]) -> list[list[Path]]:
    """The parts grouped by their columns (one Spark read each: no merged schema, so every
    part is read with exactly its own columns, as the local intake reads it)."""
    import pyarrow.parquet as pq

    groups: dict[str, list[Path]] = {}
    for part in parts:
        groups.setdefault(str(pq.read_schema(part).remove_metadata()), []).append(part)
    return list(groups.values())


def intake_on_spark(
    spark: SparkSession,
    log_root: str | Path,
    state_dir: str | Path,
    *,
    window_seconds: float,
    rebuild: Rebuild | VersionedRebuild | None = None,
    skip_skew: set[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IntakeRun:
    """Take every rolled part not taken before, on Spark (see the module docstring)."""
    from pyspark.sql import functions as F

    log_root, state_dir = Path(log_root).resolve(), Path(state_dir)
    segments, rolled = segments_dir(log_root), rolled_dir(log_root)
    run = IntakeRun()
    if segments.is_dir():
        run.damaged = roll(segments, rolled).warnings()
    parts = rolled_parts(rolled)
    todo = [p for p in parts if not taken(state_dir, p.relative_to(rolled))]
    run.skipped = len(parts) - len(todo)
    found: dict[str, list[tuple[PartSummary, bytes | None]]] = {str(p): [] for p in todo}
    done = 0
    for group in _same_columns(todo):
        frame = spark.read.parquet(*[str(p) for p in group]).select(
            "*",
            F.col("_metadata.file_path").alias(_PART),
            F.col("_metadata.row_index").alias(_ROW),
        )
        job = _summarise(rolled, window_seconds, rebuild is not None)
        for row in frame.groupBy(_PART).applyInArrow(job, _OUT).toLocalIterator():
            summary = PartSummary.from_dict(json.loads(row["summary"]))
            found[row["part"]].append((summary, row["sample"]))
        done += len(group)
        if progress is not None:
            progress(done, len(todo))
    for part in todo:  # written in name order, each part's summaries before its marker
        relative = part.relative_to(rolled)
        summaries = []
        for summary, sample in sorted(found[str(part)], key=lambda s: s[0].window):
            if rebuild is not None and sample is not None:
                apply_skew(summary, _from_ipc(sample), rebuild, skip_skew or set())
            summaries.append(summary)
        keep_outputs(state_dir, part, part_name(relative), version_of(relative), window_seconds)
        record(state_dir, relative, summaries, run)
    compact(state_dir, run.windows)  # one file per window, as the local intake leaves it
    return run
