"""Imported records written straight as rolled Parquet parts, in the importer's three steps.

A table of Keel records a columnar reader produced (`sagemaker_columns.read_table`) needs no
segment: framing it as JSON only for the roll-up to parse it again is most of the cost. Its
rows are written where the roll-up writes (`rolled/date=<UTC date>/model_version=<N>/`), with
the column types the roll-up gives Keel's own records, under the batch's name:
`part-<batch>-columns[-<k>].parquet` (never a name the roll-up writes: its parts are named
after segments). Same three steps as a segment (`keel.log.foreign.importer`): staged as
`….parquet.importing` (a name the intake and queries never read) and fsynced; the journal
replaced; then renamed into place. After a kill, `finish_leftovers` renames the staged parts
of a journalled batch and deletes the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from keel.log.segments import fsync_dir

STAGED = ".importing"
TAG = "-columns"


def _partitions(table: pa.Table) -> list[tuple[str, int, pa.Table]]:
    """(UTC date, model version, rows without model_version) of each partition of `table`,
    whose `time` is ISO-8601 in UTC (as the columnar readers write it)."""
    days = pc.utf8_slice_codeunits(table.column("time"), 0, 10)
    keys = pa.table({"d": days, "v": table.column("model_version")})
    versions = table.column("model_version")
    rest = table.drop_columns(["model_version"])
    found = []
    for pair in keys.group_by(["d", "v"]).aggregate([]).to_pylist():
        rows = pc.and_(pc.equal(days, pair["d"]), pc.equal(versions, pair["v"]))
        found.append((pair["d"], int(pair["v"]), rest.filter(rows)))
    return sorted(found, key=lambda item: item[:2])


def _groups(tables: list[pa.Table]) -> list[pa.Table]:
    """The tables of one schema each, concatenated (a batch's chunks usually share one)."""
    by_schema: dict[pa.Schema, list[pa.Table]] = {}
    for table in tables:
        by_schema.setdefault(table.schema, []).append(table)
    return [pa.concat_tables(group) for group in by_schema.values()]


def stage_parts(rolled: Path, name: str, tables: list[pa.Table]) -> list[Path]:
    """Write the batch's tables as staged parts under `rolled`, fsynced (step 1 of 3)."""
    staged, folders = [], set()
    groups = _groups([t for t in tables if t.num_rows])
    for k, table in enumerate(groups):
        suffix = TAG if len(groups) == 1 else f"{TAG}-{k}"
        for day, version, rows in _partitions(table):
            folder = rolled / f"date={day}" / f"model_version={version}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"part-{name}{suffix}.parquet{STAGED}"
            with open(path, "wb") as handle:
                pq.write_table(rows, handle)
                handle.flush()
                os.fsync(handle.fileno())
            staged.append(path)
            folders.add(folder)
    for folder in folders:
        fsync_dir(folder)
    return staged


def publish_parts(staged: Iterable[Path]) -> None:
    """Rename journalled staged parts into place, where the intake reads them (step 3 of 3)."""
    folders = set()
    for path in staged:
        os.replace(path, path.with_name(path.name[: -len(STAGED)]))
        folders.add(path.parent)
    for folder in folders:
        fsync_dir(folder)


def batch_of(path: Path) -> str:
    """The batch name of a staged part `part-<batch>-columns[-k].parquet.importing`."""
    return path.name[len("part-") :].split(TAG)[0]


def finish_leftovers(rolled: Path, pending: list[str]) -> None:
    """After a kill: publish the staged parts of the journalled batch, delete the others."""
    if not rolled.is_dir():
        return
    leftovers = sorted(rolled.glob(f"date=*/model_version=*/part-*{TAG}*.parquet{STAGED}"))
    publish_parts(p for p in leftovers if batch_of(p) in pending)
    for path in leftovers:
        if batch_of(path) not in pending and path.exists():
            path.unlink()
