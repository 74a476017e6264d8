"""Micro-batching: concurrent requests for the same model share one model call.

A model call on 100 rows costs about what it costs on one (the fixed cost is the feature code,
the pipeline's per-call checks and the Python around them), so under load a server that calls
the model once per request spends its time on that fixed cost. `Batcher.predict(loaded,
rows)` queues the request's rows on the model's lane. A lane runs one model call at a time,
in a worker thread: it takes everything waiting (up to `max_rows` rows, at least one request),
calls `predict_with_inputs` on the concatenated frame, splits the result back per request in
order and wakes each caller; requests arriving meanwhile wait and form the next call. A lone
client is answered at once. Under load the clients a call just answered send their next
requests a moment later: a call whose predecessor answered more requests than are waiting
waits for them a short, bounded time (`Batcher._fill`), so calls stay full instead of
alternating between a full one and one of a single request.

The server hands in a request's validated rows and gets back, besides the predictions, what
its log records need (the typed raw rows and the model inputs, personal data handled): that
per-row pandas work then also runs once per batch, in the worker thread, instead of once per
request on the event loop.

A failure of the batched call does not fail innocent requests: each request of that batch is
then predicted alone, so only the one whose rows break the model gets the exception.

Everything but the model call runs on the event loop (one thread), so lanes need no lock. The
calls run in the batcher's own two threads (a lane runs one call at a time; the champion's and
a canary's lanes may run side by side), except quick ones: when the model's calls, scaled
to this batch's rows, take under `INLINE_SECONDS` (the median of its last few calls), the
call runs on the event loop itself. Handing a call to a thread and its answer back (two
wake-ups, the GIL passed back and forth under load) costs more than such a call; with a
constant model it was a third of a worker's CPU, and the p99 at concurrency 8 fell from 9.4
to 6.8 ms without it. Requests arriving during an inline call wait in the socket, as they
would wait for the thread's call, and form the next batch. A model's first call, and any
call expected to be slow, go to a thread, so the loop is never held longer than about
`INLINE_SECONDS` by a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

Prediction = tuple[pd.DataFrame, pd.DataFrame]  # (model inputs, predictions)
Call = Callable[[Any, Any], tuple]  # (loaded, joined payloads) -> row-aligned parts
Join = Callable[[list[Any]], Any]


def join_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The requests' frames as one, rows in request order."""
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def predict_rows(loaded: Any, frame: pd.DataFrame) -> Prediction:
    """(model inputs, predictions) of one loaded version (`keel.serve.models.Loaded`)."""
    return loaded.model.unwrap_python_model().predict_with_inputs(frame)


# How long a call may wait for its batch to fill: at most this long, and at most this share of
# the model's last call (a 25 ms model waits up to 2 ms, a 0.5 ms one 50 us).
PATIENCE_SECONDS = 0.002
PATIENCE_SHARE = 0.1
# A call expected to take less than this runs on the event loop, not in a thread, judged by
# the model's last RECENT_CALLS calls.
INLINE_SECONDS = 0.002
RECENT_CALLS = 5


@dataclass
class _Lane:
    """The requests waiting for one loaded model, and whether a call of it is running."""

    waiting: list[tuple[Any, int, asyncio.Future[tuple]]] = field(default_factory=list)
    running: bool = False
    expected: int = 0  # requests a filling batch waits for
    filled: asyncio.Event | None = None  # set once `expected` requests wait


@dataclass
class _Pace:
    """What a model's last calls tell the next: the last one's requests, and the last few
    calls' (seconds, rows), the newest last."""

    requests: int = 1
    recent: list[tuple[float, int]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """The last call's seconds."""
        return self.recent[-1][0] if self.recent else 0.0

    def expected(self, rows: int) -> float:
        """Seconds a call of `rows` rows is expected to take: the median of the recent
        calls, each scaled up to `rows` when it had fewer (never down: most of a small call's
        cost does not depend on its rows). A median, so that one call slowed by the machine
        (or one quick call of a slow model) does not decide."""
        scaled = sorted(s * max(1.0, rows / max(n, 1)) for s, n in self.recent)
        return scaled[len(scaled) // 2] if scaled else float("inf")


def _take(waiting: list, max_rows: int) -> list:
    """The head of `waiting` up to `max_rows` rows (always at least one request)."""
    taken, rows = 0, 0
    for _, size, _ in waiting:
        if taken and rows + size > max_rows:
            break
        taken += 1
        rows += size
    return waiting[:taken]


def _cut(part: Any, start: int, end: int) -> Any:
    if isinstance(part, pd.DataFrame | pd.Series):
        return part.iloc[start:end].reset_index(drop=True)
    return part[start:end]


def _split(sizes: list[int], result: tuple) -> list[tuple]:
    """The batched result (row-aligned frames or lists) cut back into one per request."""
    total = sum(sizes)
    for part in result:
        if len(part) != total:
            raise ValueError(f"the model answered {len(part)} rows for {total}")
    parts, start = [], 0
    for size in sizes:
        parts.append(tuple(_cut(part, start, start + size) for part in result))
        start += size
    return parts


def run_batch(
    call: Call, loaded: Any, payloads: list[Any], sizes: list[int], join: Join = join_frames
) -> list[tuple | Exception]:
    """One call for all `payloads`; if it fails, one call per payload, so a failure stays with
    the request that caused it. One result or exception per payload, in order."""
    if len(payloads) > 1:
        try:
            return list(_split(sizes, call(loaded, join(payloads))))
        except Exception:  # noqa: BLE001 - retried one by one below
            pass
    results: list[tuple | Exception] = []
    for payload, size in zip(payloads, sizes, strict=True):
        try:
            results.append(_split([size], call(loaded, join([payload])))[0])
        except Exception as exc:  # noqa: BLE001 - handed to that request's caller
            results.append(exc)
    return results


def _timed_batch(
    call: Call, loaded: Any, payloads: list[Any], sizes: list[int], join: Join
) -> tuple[list[tuple | Exception], float]:
    """`run_batch`, and the seconds it took on the thread that ran it (not the wait for that
    thread to pick the call up, nor for the loop to take the answer back)."""
    start = time.perf_counter()
    results = run_batch(call, loaded, payloads, sizes, join)
    return results, time.perf_counter() - start


class Batcher:
    """Coalesces concurrent predictions of the same loaded model (see the module docstring).

    `max_rows` caps the rows of one model call; a call expected to take under
    `inline_seconds` runs on the event loop (see the module docstring). By default a request
    is a frame of raw rows and the answer (model inputs, predictions); `join` (the requests'
    payloads as one model input) and `call` (loaded model, joined input -> a tuple of
    row-aligned frames or lists) let the server do more of its per-row work once per batch.
    """

    def __init__(
        self,
        max_rows: int = 2_000,
        call: Call = predict_rows,
        join: Join = join_frames,
        inline_seconds: float = INLINE_SECONDS,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be positive")
        self.max_rows = max_rows
        self.inline_seconds = inline_seconds
        self.call = call
        self.join = join
        self.calls = 0  # model calls made (batches), for tests and metrics
        self.rows = 0  # rows predicted in them
        self._lanes: dict[Any, _Lane] = {}  # by loaded model (hashed by identity)
        self._paces: weakref.WeakKeyDictionary[Any, _Pace] = weakref.WeakKeyDictionary()
        # model calls run in threads of their own: one per lane at a time (champion and
        # candidate side by side), handed over with less work than a general-purpose pool
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="keel-model")

    async def predict(self, loaded: Any, payload: Any, rows: int | None = None) -> tuple:
        """`call`'s answer for `payload` alone (frames indexed 0..n-1), `rows` rows long
        (default: len(payload)); raises what the model raised on these rows."""
        future: asyncio.Future[tuple] = asyncio.get_running_loop().create_future()
        lane = self._lanes.setdefault(loaded, _Lane())
        lane.waiting.append((payload, len(payload) if rows is None else rows, future))
        if lane.filled is not None and len(lane.waiting) >= lane.expected:
            lane.filled.set()
        if not lane.running:
            lane.running = True
            asyncio.get_running_loop().create_task(self._drain(loaded, lane))
        return await future

    async def _drain(self, loaded: Any, lane: _Lane) -> None:
        try:
            while lane.waiting:
                await self._fill(loaded, lane)
                batch = _take(lane.waiting, self.max_rows)
                del lane.waiting[: len(batch)]
                payloads = [payload for payload, _, _ in batch]
                sizes = [size for _, size, _ in batch]
                rows = sum(sizes)
                self.calls += 1
                self.rows += rows
                job = (self.call, loaded, payloads, sizes, self.join)
                try:
                    if self._quick(loaded, rows):
                        results, seconds = _timed_batch(*job)
                    else:
                        results, seconds = await asyncio.get_running_loop().run_in_executor(
                            self._threads, _timed_batch, *job
                        )
                except BaseException as exc:  # cancelled, or a bug: nobody waits forever
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                            )
                    raise
                self._remember(loaded, len(batch), rows, seconds)
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():  # the caller went away
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            lane.running = False
            if not lane.waiting:
                self._lanes.pop(loaded, None)  # a swapped-out model is not kept alive

    async def _fill(self, loaded: Any, lane: _Lane) -> None:
        """Let the batch fill before the call: when the model's last call answered more
        requests than wait now, wait until as many wait, or for a short patience (see
        `PATIENCE_SECONDS`). Under load the clients just answered send again within a
        fraction of a call, and joining them fills the next call instead of splitting the
        traffic into one full call and one of a single row; a lone client (last call: one
        request) never waits."""
        pace = self._pace(loaded)
        if pace is None or pace.requests <= len(lane.waiting):
            return
        patience = min(PATIENCE_SECONDS, PATIENCE_SHARE * pace.seconds)
        if patience <= 0:
            return
        lane.expected, lane.filled = pace.requests, asyncio.Event()
        try:
            await asyncio.wait_for(lane.filled.wait(), patience)
        except TimeoutError:
            pass
        finally:
            lane.filled = None

    def _quick(self, loaded: Any, rows: int) -> bool:
        """Whether a call of `rows` rows is expected to take under `inline_seconds`
        (`_Pace.expected`). Unknown (no call yet): no."""
        pace = self._pace(loaded)
        return pace is not None and pace.expected(rows) < self.inline_seconds

    def _pace(self, loaded: Any) -> _Pace | None:
        try:
            return self._paces.get(loaded)
        except TypeError:  # cannot be weakly referenced: no memory of its calls
            return None

    def _remember(self, loaded: Any, requests: int, rows: int, seconds: float) -> None:
        with contextlib.suppress(TypeError):
            before = self._paces.get(loaded)
            recent = [*(before.recent[-(RECENT_CALLS - 1) :] if before else []), (seconds, rows)]
            self._paces[loaded] = _Pace(requests, recent)
