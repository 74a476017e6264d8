"""The library calls behind `keel profile`, `keel schema` and `keel pii`, for data at a path.

Paths and globs are relative to the current folder; every problem is a `KeelError` naming the
argument and the file. Everything comes in as an explicit value (the target, id and sensitive
columns, the schema): reading keel.toml for them is the command line's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from keel.data import pii
from keel.data.batches import iter_batches
from keel.data.profile import Profile
from keel.data.profiling import profile_source
from keel.data.schema import Anomaly, Schema, infer, validate
from keel.data.sources import describe

if TYPE_CHECKING:
    from keel.data.spark import SparkSettings

PII_SAMPLE_ROWS = 200_000
Progress = Callable[[int, int], None]


def profile_path(
    data: str,
    *,
    batch_size: int = 65_536,
    spark: SparkSettings | None = None,
    progress: Progress | None = None,
) -> Profile:
    """The profile of the data at a path or glob; with `spark`, of Parquet or a table
    (`table:db.name`) on Spark, per partition."""
    key = f"DATA {data!r}"
    if spark is None:
        return profile_source(data, Path.cwd(), key=key, batch_size=batch_size)
    from keel.data.spark import profile_frame, read_source, session

    frame = read_source(session(spark), data, Path.cwd(), key=key)
    return profile_frame(frame, source=describe(data), progress=progress)


def head(data: str, rows: int = PII_SAMPLE_ROWS) -> pa.Table:
    """The first `rows` rows of the data at a path or glob (enough for a PII scan)."""
    batches, seen = [], 0
    for batch in iter_batches(data, Path.cwd(), key=f"DATA {data!r}"):
        batches.append(batch)
        seen += batch.num_rows
        if seen >= rows:
            break
    return pa.Table.from_batches(batches)


def scan_path(data: str) -> list[pii.PiiFinding]:
    """PII found in the data at a path or glob (scanned on its first rows, sampled)."""
    return pii.scan(head(data))


def decoded_path(data: str, encoding: str) -> tuple[Profile, list[pii.PiiFinding]]:
    """The profile of, and the PII found in, data whose CSV text is in `encoding` (read whole:
    the streamed readers take UTF-8 only)."""
    from keel.data.profile import profile_batches
    from keel.data.sources import read_table

    table = read_table(data, Path.cwd(), key=f"DATA {data!r}", encoding=encoding)
    profile = profile_batches(table, source=describe(data))
    return profile, pii.scan(table.slice(0, PII_SAMPLE_ROWS))


def infer_path(
    data: str,
    *,
    target: str | None = None,
    id: str | None = None,
    sensitive: Iterable[str] = (),
) -> Schema:
    """A schema inferred from the data at a path or glob, given the columns' roles."""
    return infer(profile_path(data), pii=scan_path(data), target=target, id=id, sensitive=sensitive)


def validate_path(
    data: str,
    schema: Schema,
    *,
    environment: str = "training",
    batch_size: int = 65_536,
    spark: SparkSettings | None = None,
    progress: Progress | None = None,
) -> list[Anomaly]:
    """Anomalies of the data at a path or glob against a schema, streamed in batches; with
    `spark`, counted per partition on Spark."""
    key = f"DATA {data!r}"
    if spark is not None:
        from keel.data.spark import read_source, session, validate_frame

        frame = read_source(session(spark), data, Path.cwd(), key=key)
        return validate_frame(
            frame,
            schema,
            environment=environment,  # type: ignore[arg-type]
            source=data,
            progress=progress,
        )
    batches = iter_batches(data, Path.cwd(), key=key, batch_size=batch_size)
    return validate(batches, schema, environment=environment)  # type: ignore[arg-type]
