"""Work done one job at a time in a thread of its own, a bounded number of jobs behind the caller.

The intake summarises each part the roll-up hands it (`keel.log.rollup.roll(taken=...)`).
Done in the roll's own thread, the roll waits for every summary before it deletes the batch's
segments and moves on, and its Parquet writes, fsyncs and deletions never overlap a summary.
`Behind` runs the summaries in one thread of their own, in the order they were handed in, at
most `backlog` jobs behind (a new job waits for the oldest, so memory holds a bounded number of
batches whatever the log's size). A job's exception is raised in the caller, at the next
`submit` or at `wait`; when the caller fails (Ctrl-C included), the jobs not started are
dropped and the running one is finished before the failure goes on, so nothing is
half-written: a part whose job did not run has no `.done` marker and is taken next run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class Behind:
    """Jobs run in order in one thread, at most `backlog` of them pending (see the module
    docstring). Use as a context manager: leaving it waits for every job."""

    def __init__(self, backlog: int = 2) -> None:
        if backlog < 1:
            raise ValueError("backlog must be at least 1")
        self._backlog = backlog
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="keel-behind")
        self._pending: deque[Future] = deque()

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        """Run `job(*args)` after the jobs handed in before it; first wait until fewer than
        `backlog` are pending, raising the exception of any job finished meanwhile."""
        while self._pending and (len(self._pending) >= self._backlog or self._pending[0].done()):
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(job, *args))

    def wait(self) -> None:
        """Wait for every job handed in; raise the first exception one raised."""
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> Behind:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.wait()
        finally:  # failing: the jobs not started are dropped, the running one finishes
            for job in self._pending:
                job.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
