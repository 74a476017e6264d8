"""Profiling a data source: streamed in batches, in this process or in several.

`profile_source` reads a source through `keel.data.batches` (Parquet string columns
dictionary-encoded) and profiles it with `keel.data.profile.profile_batches`. On Linux, a
Parquet source of 250,000 rows or more is profiled by one process per CPU: the parent forks
the others before it reads anything, then each takes the next column (dearest first) from a
shared counter, streams it, and sends its column profile back; the parent joins them. A glob
of several large CSV files is shared out by file and the parts merged. A worker that dies has
its columns redone by the parent (`keel.data._parallel`).
"""

from __future__ import annotations

from pathlib import Path

from keel.data._parallel import Job, in_parallel, units, worker_count
from keel.data.profile import Profile, profile_batches
from keel.data.sources import Source, SqlSource, describe

__all__ = ["profile_source"]


def profile_source(
    source: Source | Path,
    root: Path,
    *,
    key: str,
    batch_size: int = 65_536,
    workers: int | None = None,
) -> Profile:
    """Profile a source (path, glob or SQL table) streamed in batches of `batch_size` rows.

    `workers` caps the processes (default: one per CPU, at most 8, on Linux; elsewhere, and
    with 1, this process alone). A `DataError` names the key and the file for a missing,
    unreadable or empty source, an unknown format, or a column of mixed types.
    """
    workers = worker_count(workers)
    shown = describe(source if isinstance(source, SqlSource) else str(source))
    job = Job(source, root, key, batch_size, f"{key} = {shown}")
    shares = [] if isinstance(source, SqlSource) else units(job, workers)
    if len(shares) < 2:
        profile = profile_batches(job.batches(), source=job.where)
    else:
        profile = in_parallel(job, shares, workers)
    profile.source = shown
    return profile
