"""The durable prediction log: the seam between serving and monitoring.

`PredictionLog.append(records)` takes one JSON-able dict per served or refused row (a refused
row has route `ROUTE_REJECTED` and no prediction; the layout is `keel.log.record`). The log
needs only `time` (an ISO-8601 string, with an offset, or naive meaning UTC) and `model_version` (an
int), which partition the roll-up; `date` is reserved (the roll-up's partition, derived from
`time`); every other field is the server's business.

A single writer thread writes the records of all callers to this process's own segment file
(see `keel.log.segments`). With `durability="ack"`, `append` returns only once its records
are written and fsynced; the writer takes everything pending, writes it and fsyncs once for all
of it (group commit), so N concurrent requests cost one fsync. With `"async"`, `append` queues
and returns at once; when the queue holds `queue_rows` rows the records are dropped and counted
in `dropped`, never blocking a request. An asyncio server awaits `append_async(records)`
instead: the same group commit with no thread of the loop's pool blocked meanwhile. While the
disk's fsyncs are quick (the median of the last five under a millisecond), the loop writes and
fsyncs its own group at the end of its turn: every record its callers handed in during that
turn, one fsync for all, and no thread to wake and wait for (a thread hand-over costs more
than such an fsync: with one worker, 30-40% more requests/s at concurrency 8). Else, or when
the writer thread is at the segment just then, the writer thread takes the group and wakes
the loop once it is on disk.

A segment is sealed (closed: renamed `.open` -> `.seg`, so the roll-up and `keel monitor` take
it) when it reaches `segment_bytes`, or once its first record is `seal_seconds` old, whatever
the traffic: the writer thread waits for records with a timeout set to the open segment's
deadline, so a quiet server's rows are sealed at most `seal_seconds` after they arrived. An
idle writer with no open segment waits without a timeout and writes nothing (no empty
segments); the next record opens a new segment.

Make one `PredictionLog` per process, after any fork (its writer thread and open segment
belong to the process that made it); worker processes may share a folder.

A log folder holds `segments/` (written by servers) and `rolled/` (Parquet, see
`keel.log.rollup`): `segments_dir` and `rolled_dir` name them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from keel.errors import KeelError
from keel.log.quarantine import Damage
from keel.log.record import check_record
from keel.log.segments import SegmentWriter, encode_record, recover

Durability = Literal["ack", "async"]
DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024
DEFAULT_SEAL_SECONDS = 60.0
# "ack" on an event loop: the loop writes and fsyncs a group itself when the median of the
# last RECENT_FSYNCS fsyncs took under INLINE_FSYNC_SECONDS (else the writer thread does)
INLINE_FSYNC_SECONDS = 0.001
RECENT_FSYNCS = 5


def segments_dir(log_root: str | Path) -> Path:
    """Where servers write segment files under a `[data] serving_log` folder."""
    return Path(log_root) / "segments"


def rolled_dir(log_root: str | Path) -> Path:
    """Where closed segments roll into Parquet under a `[data] serving_log` folder."""
    return Path(log_root) / "rolled"


class PredictionLog:
    """Append-only, thread-safe prediction log of one process, in `folder` (segment files).

    Counters for /metrics: `queue_depth()`, `dropped`, `fsyncs`, `records_written`,
    `damaged_records` (met recovering dead writers' segments at start),
    `fsync_seconds` (the latest 1,024 fsync durations) and the `on_fsync(seconds)` hook.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        durability: Durability = "ack",
        queue_rows: int = 10_000,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        seal_seconds: float = DEFAULT_SEAL_SECONDS,
        on_fsync: Callable[[float], None] | None = None,
    ) -> None:
        if durability not in ("ack", "async"):
            raise KeelError(
                f"prediction log: durability must be 'ack' or 'async', got {durability!r}"
            )
        if queue_rows < 1 or segment_bytes < 1:
            raise KeelError("prediction log: queue_rows and segment_bytes must be positive")
        if not seal_seconds > 0:
            raise KeelError(f"prediction log: seal_seconds must be positive, got {seal_seconds!r}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        met: list[Damage] = []
        recover(self.folder, met)
        # records lost in damaged ranges of dead writers' segments met at start (their bytes
        # kept in quarantine: a torn tail at once, the middle of a segment by the roll-up)
        self.damaged_records = sum(d.records for d in met)
        self.durability = durability
        self.queue_rows = queue_rows
        self.segment_bytes = segment_bytes
        self.seal_seconds = float(seal_seconds)
        self.on_fsync = on_fsync
        self.dropped = 0
        self.fsyncs = 0
        self.records_written = 0
        self.fsync_seconds: deque[float] = deque(maxlen=1024)
        self._recent_fsyncs: deque[float] = deque(maxlen=RECENT_FSYNCS)  # judged per append
        self._cond = threading.Condition()
        self._io = threading.Lock()  # the open segment: written, fsynced, sealed by one at once
        self._inline_open = 0  # frames an event loop holds to commit itself, not yet durable
        # per event loop: (frames, futures) its next commit takes
        self._on_loop: dict[asyncio.AbstractEventLoop, tuple[list[bytes], list[Any]]] = {}
        self._pending: list[bytes] = []
        self._enqueued = 0  # batches handed in so far
        self._durable = 0  # batches written and fsynced so far
        self._error: BaseException | None = None
        # asyncio callers waiting for their batch (ticket) to be durable
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closing = False
        self._closed = False
        self._seq = 0
        self._segment: SegmentWriter | None = None
        self._seal_at = 0.0  # monotonic time the open segment is sealed by age
        self._thread = threading.Thread(target=self._run, name="keel-predlog", daemon=True)
        self._thread.start()

    def queue_depth(self) -> int:
        """Rows handed in but not yet written."""
        with self._cond:
            return len(self._pending)

    def _frames(self, records: Iterable[dict[str, Any]]) -> list[bytes]:
        records = list(records)
        for record in records:
            check_record(record)
        return [encode_record(r) for r in records]

    def _enqueue(self, frames: list[bytes]) -> int | None:
        """Hand `frames` to the writer (lock held by the caller); their ticket, or None when
        they were dropped (async, queue full)."""
        self._raise_if_unusable()
        if self.durability == "async" and len(self._pending) + len(frames) > self.queue_rows:
            self.dropped += len(frames)
            return None
        self._pending.extend(frames)
        self._enqueued += 1
        self._cond.notify_all()
        return self._enqueued

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Log `records`; with "ack", return once they are on disk (fsynced).

        Raises KeelError for a record without `time`/`model_version` or not JSON-able (nothing
        of this call is logged then), or when the log is closed or failed writing.
        """
        frames = self._frames(records)
        if not frames:
            return
        with self._cond:
            ticket = self._enqueue(frames)
            if ticket is None or self.durability == "async":
                return
            while self._durable < ticket:
                if self._error is not None:
                    raise self._failure()
                self._cond.wait()

    async def append_async(self, records: Iterable[dict[str, Any]]) -> None:
        """`append` for an event loop: with "ack", completes once the records are on disk,
        woken by the writer thread (no thread blocked meanwhile). Raises as `append`."""
        frames = self._frames(records)
        if not frames:
            return
        loop = asyncio.get_running_loop()
        if self.durability == "ack" and self._quick():
            with self._cond:
                self._raise_if_unusable()
                future: asyncio.Future[None] = loop.create_future()
                group = self._on_loop.get(loop)
                if group is None:  # the loop's first batch since its last commit
                    group = self._on_loop[loop] = ([], [])
                    loop.call_soon(self._commit_on_loop, loop)
                group[0].extend(frames)
                group[1].append(future)
                self._inline_open += len(frames)
            await future
            return
        with self._cond:
            ticket = self._enqueue(frames)
            if ticket is None or self.durability == "async":
                return
            future = loop.create_future()
            self._waiters.append((ticket, loop, future))
        await future

    def _quick(self) -> bool:
        """Whether recent fsyncs were quick enough for an event loop to wait for its own."""
        recent = sorted(self._recent_fsyncs)
        return len(recent) == RECENT_FSYNCS and recent[RECENT_FSYNCS // 2] < INLINE_FSYNC_SECONDS

    def _commit_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write and fsync, on the loop, what its callers handed in during one turn of it: one
        fsync for all of them and no thread to wake. When the writer thread is at the segment
        just then, the group is handed to it instead."""
        with self._cond:
            frames, futures = self._on_loop.pop(loop)
        if not self._io.acquire(blocking=False):
            with self._cond:
                self._inline_open -= len(frames)
                try:
                    ticket = self._enqueue(frames)
                except KeelError as exc:
                    _settle(futures, exc)
                    return
                self._waiters += [(ticket, loop, future) for future in futures]
            return
        error: KeelError | None = None
        try:
            if self._closed:
                error = KeelError(f"prediction log {self.folder}: closed")
            elif self._error is None:
                self._write(frames)
        except BaseException as exc:  # a full disk, a removed folder: fail loudly
            with self._cond:
                self._error = exc
                self._wake()
        finally:
            self._io.release()
        with self._cond:
            self._inline_open -= len(frames)
            if error is None and self._error is not None:
                error = self._failure()
            elif error is None:
                self.records_written += len(frames)
            # flush() waits for this group; the writer thread, for a segment this opened (it
            # seals it by age)
            self._cond.notify_all()
        _settle(futures, error)

    def _wake(self) -> None:
        """Complete the asyncio waiters whose batch is durable, or all of them with the
        writer's error (lock held)."""
        if not self._waiters:
            return
        failed = self._error is not None
        done: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        kept = []
        for ticket, loop, future in self._waiters:
            if failed or ticket <= self._durable:
                done.setdefault(loop, []).append(future)
            else:
                kept.append((ticket, loop, future))
        if not done:
            return
        self._waiters = kept
        error = self._failure() if failed else None
        for loop, futures in done.items():  # one wake-up per event loop, not per waiter
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, futures, error)

    def flush(self) -> None:
        """Wait until everything appended so far is on disk (fsynced)."""
        with self._cond:
            ticket = self._enqueued
            while self._durable < ticket or self._inline_open:
                self._raise_if_unusable(closing_ok=True)
                self._cond.wait()

    def close(self) -> None:
        """Write what is pending, close the segment (it becomes rollable) and stop the writer."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        with self._io, self._cond:
            self._closed = True
            segment, self._segment = self._segment, None
            if segment is not None:
                segment.close()
        if self._error is not None:
            raise self._failure()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _failure(self) -> KeelError:
        """What callers are told once the writer has failed (`_error` set)."""
        return KeelError(f"prediction log: writing failed: {self._error}")

    def _raise_if_unusable(self, *, closing_ok: bool = False) -> None:
        if self._error is not None:
            raise self._failure()
        if (self._closing and not closing_ok) or self._closed:
            raise KeelError(f"prediction log {self.folder}: closed")

    def _run(self) -> None:
        """The writer thread: take all pending frames, write, fsync once, wake their callers;
        seal the open segment once its first record is `seal_seconds` old."""
        while True:
            with self._cond:
                while not self._pending and not self._closing and not self._seal_due():
                    # an open segment: wake at its deadline; none: nothing to do until a record
                    timeout = None if self._segment is None else self._seal_at - time.monotonic()
                    self._cond.wait(timeout)
                if not self._pending and self._closing:  # closing, nothing left
                    return
                frames, self._pending = self._pending, []
                upto = self._enqueued
            try:
                if frames:
                    with self._io:
                        self._write(frames)
                    with self._cond:  # callers answered before any seal by age
                        self._durable = upto
                        self.records_written += len(frames)
                        self._cond.notify_all()
                        self._wake()
                if self._seal_due():
                    with self._io:
                        self._seal()
            except BaseException as exc:  # a full disk, a removed folder: fail loudly
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                    self._wake()
                return

    def _seal_due(self) -> bool:
        """Whether the open segment (if any) has reached its age."""
        return self._segment is not None and time.monotonic() >= self._seal_at

    def _seal(self) -> None:
        """Close the open segment (it becomes `.seg`, rollable); the next record opens one."""
        segment, self._segment = self._segment, None
        if segment is not None:
            segment.close()

    def _write(self, frames: list[bytes]) -> None:
        if self._segment is None:
            self._seq += 1
            self._segment = SegmentWriter(self.folder, self._seq)
            self._seal_at = time.monotonic() + self.seal_seconds
        segment = self._segment
        segment.write(b"".join(frames))
        start = time.perf_counter()
        segment.fsync()
        took = time.perf_counter() - start
        self.fsyncs += 1
        self.fsync_seconds.append(took)
        self._recent_fsyncs.append(took)
        if self.on_fsync is not None:
            self.on_fsync(took)
        if segment.size >= self.segment_bytes:
            self._seal()


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():  # the caller went away
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
