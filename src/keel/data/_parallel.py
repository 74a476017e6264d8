"""Profiling a large source in several processes: columns (Parquet) or files (CSV) shared out.

On Linux, a Parquet source of at least `PARALLEL_MIN_ROWS` rows is profiled column by column by
forked processes that take columns from a shared counter, most expensive first; the parent
joins the parts. A worker that dies has its columns redone by the parent.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from keel.data.batches import iter_batches, source_schema
from keel.data.profile import Profile, join_columns, merge, profile_batches
from keel.data.sources import Source, _format, resolve_paths
from keel.data.types import kind_of
from keel.errors import DataError

PARALLEL_MIN_ROWS = 250_000
PARALLEL_MIN_CSV_BYTES = 32 << 20
_COST = {"numeric": 8, "datetime": 8, "categorical": 2, "other": 1}


@dataclass(frozen=True)
class Job:
    source: Source | Path
    root: Path
    key: str
    batch_size: int
    where: str

    def batches(self, unit: tuple[str, ...] = ()) -> Iterable[pa.RecordBatch]:
        """The source's batches; a unit is a few columns, or one CSV file (`csv:` + path).

        A unit is read in its process's one thread: the processes already share the cores.
        """
        kw = {"key": self.key, "batch_size": self.batch_size, "dictionary": True}
        kw["threads"] = not unit
        if unit and unit[0].startswith("csv:"):
            return iter_batches(Path(unit[0][4:]), self.root, **kw)
        return iter_batches(self.source, self.root, columns=list(unit) or None, **kw)


def worker_count(workers: int | None) -> int:
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        raise ValueError(
            f"The 'workers' parameter of profile_source must be a positive int. "
            f"Got {workers!r} instead."
        )
    if not sys.platform.startswith("linux"):  # forking is safe enough only there
        return 1
    return workers if workers is not None else max(1, min(os.cpu_count() or 1, 8))


def units(job: Job, workers: int) -> list[tuple[str, ...]]:
    """How to share a source out: groups of columns (Parquet) or files (CSV); [] if not."""
    if workers < 2:
        return []
    import pyarrow.parquet as pq

    paths = resolve_paths(str(job.source), job.root, key=job.key)
    formats = {_format(p, job.key) for p in paths}
    schema = source_schema(job.source, job.root, key=job.key)  # refuses mixed files early
    if formats == {"csv"}:
        if len(paths) < 2 or sum(p.stat().st_size for p in paths) < PARALLEL_MIN_CSV_BYTES:
            return []
        return [(f"csv:{p}",) for p in paths]
    if formats != {"parquet"} or len(schema) < 2:
        return []
    try:
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    except (pa.ArrowException, OSError):
        return []  # the serial path reports the unreadable file
    if rows < PARALLEL_MIN_ROWS:
        return []
    # Dearest first: whoever is free takes the next, so the cheap ones even out the end.
    fields = sorted(schema, key=lambda f: -_COST[kind_of(f.type)])
    if len(paths) <= 16:
        return [(f.name,) for f in fields]
    # Many files: a few groups of columns per worker, so each file is opened a few times.
    groups: list[list[str]] = [[] for _ in range(min(len(fields), 3 * workers))]
    load = [0] * len(groups)
    for f in fields:
        i = load.index(min(load))
        groups[i].append(f.name)
        load[i] += _COST[kind_of(f.type)]
    return [tuple(g) for g in groups]


def in_parallel(job: Job, units: list[tuple[str, ...]], workers: int) -> Profile:
    """Profile units in this process and up to `workers - 1` forked ones, then combine."""
    import multiprocessing
    import queue as queues

    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    results: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(job, units, counter, results), daemon=True)
        for _ in range(min(workers, len(units)) - 1)
    ]
    # Forked before this process reads any data, its threads idle and holding no lock; the
    # workers read in their own thread only. Python 3.12+ warns of forking with threads.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*fork\(\) may lead to deadlocks", DeprecationWarning)
        for proc in procs:
            proc.start()
    parts: dict[int, Profile] = {}
    try:
        while (i := _claim(counter, len(units))) is not None:
            parts[i] = profile_batches(job.batches(units[i]), source=job.where)
        finished = 0
        while finished < len(procs):
            try:
                message = results.get(timeout=0.2)
            except queues.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    break  # a worker died without a word: its units are redone below
                continue
            if message[0] == "done":
                finished += 1
            elif message[0] == "error":
                raise message[1]
            else:
                parts[message[1]] = Profile.from_dict(message[2])
        for i in range(len(units)):
            if i not in parts:
                parts[i] = profile_batches(job.batches(units[i]), source=job.where)
    finally:
        with counter.get_lock():
            counter.value = len(units)
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
    ordered = [parts[i] for i in range(len(units))]
    if units[0][0].startswith("csv:"):
        whole = ordered[0]
        for part in ordered[1:]:
            whole = merge(whole, part)
        return whole
    names = source_schema(job.source, job.root, key=job.key).names
    return join_columns(ordered, names, job.where)


def _claim(counter: Any, n: int) -> int | None:
    with counter.get_lock():
        i = counter.value
        if i >= n:
            return None
        counter.value = i + 1
    return i


def _worker(job: Job, units: list[tuple[str, ...]], counter: Any, results: Any) -> None:
    """A forked process: profile units until none is left, and send each back."""
    try:
        while (i := _claim(counter, len(units))) is not None:
            part = profile_batches(job.batches(units[i]), source=job.where)
            results.put(("part", i, part.to_dict(summary=False)))
    except KeyboardInterrupt:  # the parent has it too, and says so
        return
    except Exception as exc:
        results.put(("error", exc if isinstance(exc, DataError) else RuntimeError(repr(exc))))
    results.put(("done",))
