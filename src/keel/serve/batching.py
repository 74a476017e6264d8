"""Micro-batching: concurrent requests for the same model share one model call.

A model call on 100 rows costs about what it costs on one (the fixed cost is the feature code,
the pipeline's per-call checks and the Python around them), so under load a server that calls
the model once per request spends its time on that fixed cost. `Batcher.predict(loaded,
frame)` queues the request's rows on the model's lane. A lane runs one model call at a time,
in a worker thread: it takes everything waiting (up to `max_rows` rows, at least one request),
calls `predict_with_inputs` on the concatenated frame, splits the result back per request in
order and wakes each caller; requests arriving meanwhile wait and form the next call. No timer:
an idle server answers a lone request at once, a busy one batches as much as arrived.

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
Call = Callable[[Any, pd.DataFrame], Prediction]


def predict_rows(loaded: Any, frame: pd.DataFrame) -> Prediction:
    """(model inputs, predictions) of one loaded version (`keel.serve.models.Loaded`)."""
    return loaded.model.unwrap_python_model().predict_with_inputs(frame)


@dataclass
class _Lane:
    """The requests waiting for one loaded model, and whether a call of it is running."""

    waiting: list[tuple[pd.DataFrame, asyncio.Future[Prediction]]] = field(default_factory=list)
    running: bool = False


def _take(waiting: list, max_rows: int) -> list:
    """The head of `waiting` up to `max_rows` rows (always at least one request)."""
    taken, rows = 0, 0
    for frame, _ in waiting:
        if taken and rows + len(frame) > max_rows:
            break
        taken += 1
        rows += len(frame)
    return waiting[:taken]


def _split(frames: list[pd.DataFrame], result: Prediction) -> list[Prediction]:
    """The batched result cut back into one (inputs, predictions) per request, in order."""
    inputs, output = result
    total = sum(len(f) for f in frames)
    if len(inputs) != total or len(output) != total:
        raise ValueError(f"the model answered {len(output)} rows for {total}")
    parts, start = [], 0
    for frame in frames:
        end = start + len(frame)
        parts.append(
            (
                inputs.iloc[start:end].reset_index(drop=True),
                output.iloc[start:end].reset_index(drop=True),
            )
        )
        start = end
    return parts


def run_batch(call: Call, loaded: Any, frames: list[pd.DataFrame]) -> list[Prediction | Exception]:
    """One call for all `frames`; if it fails, one call per frame, so a failure stays with the
    request that caused it. One result or exception per frame, in order."""
    if len(frames) > 1:
        try:
            joined = pd.concat(frames, ignore_index=True)
            return list(_split(frames, call(loaded, joined)))
        except Exception:  # noqa: BLE001 - retried one by one below
            pass
    results: list[Prediction | Exception] = []
    for frame in frames:
        try:
            inputs, output = call(loaded, frame)
            results.append((inputs.reset_index(drop=True), output.reset_index(drop=True)))
        except Exception as exc:  # noqa: BLE001 - handed to that request's caller
            results.append(exc)
    return results


class Batcher:
    """Coalesces concurrent predictions of the same loaded model (see the module docstring).

    `max_rows` caps the rows of one model call; `call` is the model call (tests replace it).
    """

    def __init__(self, max_rows: int = 2_000, call: Call = predict_rows) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be positive")
        self.max_rows = max_rows
        self.call = call
        self.calls = 0  # model calls made (batches), for tests and metrics
        self._lanes: dict[Any, _Lane] = {}  # by loaded model (hashed by identity)

    async def predict(self, loaded: Any, frame: pd.DataFrame) -> Prediction:
        """(model inputs, predictions) of `loaded` for `frame`, index 0..n-1; raises what the
        model raised on these rows."""
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        lane = self._lanes.setdefault(loaded, _Lane())
        lane.waiting.append((frame, future))
        if not lane.running:
            lane.running = True
            asyncio.get_running_loop().create_task(self._drain(loaded, lane))
        return await future

    async def _drain(self, loaded: Any, lane: _Lane) -> None:
        try:
            while lane.waiting:
                batch = _take(lane.waiting, self.max_rows)
                del lane.waiting[: len(batch)]
                frames = [frame for frame, _ in batch]
                self.calls += 1
                try:
                    results = await run_in_threadpool(run_batch, self.call, loaded, frames)
                except BaseException as exc:  # cancelled, or a bug: nobody waits forever
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                            )
                    raise
                for (_, future), result in zip(batch, results, strict=True):
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
