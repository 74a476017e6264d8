"""Micro-batching: concurrent requests for the same model share one model call.

A model call on 100 rows costs about what it costs on one (the fixed cost is the feature code,
the pipeline's per-call checks and the Python around them), so under load a server that calls
the model once per request spends its time on that fixed cost. `Batcher.predict(loaded,
rows)` queues the request's rows on the model's lane. A lane runs one model call at a time,
in a worker thread: it takes everything waiting (up to `max_rows` rows, at least one request),
calls `predict_with_inputs` on the concatenated frame, splits the result back per request in
order and wakes each caller; requests arriving meanwhile wait and form the next call. No timer:
an idle server answers a lone request at once, a busy one batches as much as arrived.

The server hands in a request's validated rows and gets back, besides the predictions, what
its log records need (the typed raw rows and the model inputs, personal data handled): that
per-row pandas work then also runs once per batch, in the worker thread, instead of once per
request on the event loop.

A failure of the batched call does not fail innocent requests: each request of that batch is
then predicted alone, so only the one whose rows break the model gets the exception.

Everything but the model call runs on the event loop (one thread), so lanes need no lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool

Prediction = tuple[pd.DataFrame, pd.DataFrame]  # (model inputs, predictions)
Call = Callable[[Any, Any], tuple]  # (loaded, joined payloads) -> row-aligned parts
Join = Callable[[list[Any]], Any]


def join_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The requests' frames as one, rows in request order."""
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def predict_rows(loaded: Any, frame: pd.DataFrame) -> Prediction:
    """(model inputs, predictions) of one loaded version (`keel.serve.models.Loaded`)."""
    return loaded.model.unwrap_python_model().predict_with_inputs(frame)


@dataclass
class _Lane:
    """The requests waiting for one loaded model, and whether a call of it is running."""

    waiting: list[tuple[Any, int, asyncio.Future[tuple]]] = field(default_factory=list)
    running: bool = False


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


class Batcher:
    """Coalesces concurrent predictions of the same loaded model (see the module docstring).

    `max_rows` caps the rows of one model call. By default a request is a frame of raw rows
    and the answer (model inputs, predictions); `join` (the requests' payloads as one model
    input) and `call` (loaded model, joined input -> a tuple of row-aligned frames or lists)
    let the server do more of its per-row work once per batch.
    """

    def __init__(
        self, max_rows: int = 2_000, call: Call = predict_rows, join: Join = join_frames
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be positive")
        self.max_rows = max_rows
        self.call = call
        self.join = join
        self.calls = 0  # model calls made (batches), for tests and metrics
        self.rows = 0  # rows predicted in them
        self._lanes: dict[Any, _Lane] = {}  # by loaded model (hashed by identity)

    async def predict(self, loaded: Any, payload: Any, rows: int | None = None) -> tuple:
        """`call`'s answer for `payload` alone (frames indexed 0..n-1), `rows` rows long
        (default: len(payload)); raises what the model raised on these rows."""
        future: asyncio.Future[tuple] = asyncio.get_running_loop().create_future()
        lane = self._lanes.setdefault(loaded, _Lane())
        lane.waiting.append((payload, len(payload) if rows is None else rows, future))
        if not lane.running:
            lane.running = True
            asyncio.get_running_loop().create_task(self._drain(loaded, lane))
        return await future

    async def _drain(self, loaded: Any, lane: _Lane) -> None:
        try:
            while lane.waiting:
                batch = _take(lane.waiting, self.max_rows)
                del lane.waiting[: len(batch)]
                payloads = [payload for payload, _, _ in batch]
                sizes = [size for _, size, _ in batch]
                self.calls += 1
                self.rows += sum(sizes)
                try:
                    results = await run_in_threadpool(
                        run_batch, self.call, loaded, payloads, sizes, self.join
                    )
                except BaseException as exc:  # cancelled, or a bug: nobody waits forever
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                            )
                    raise
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
