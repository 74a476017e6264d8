"""Micro-batching: concurrent requests share model calls, answers are exactly the per-request
ones, in order, and a request the model cannot predict fails alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.serve.batching import Batcher, run_batch


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    y = (x["x1"] + 0.5 * x["x2"] + rng.normal(scale=0.3, size=300) > 0).astype(int)
    return LogisticRegression().fit(x, y)


def call(model, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A real model call: the inputs it used and its predictions (what predict_with_inputs
    answers)."""
    inputs = frame[["x1", "x2"]].astype(float)  # raises on a value that is not a number
    out = pd.DataFrame({"prediction": model.predict(inputs)})
    out["proba_1"] = model.predict_proba(inputs)[:, 1]
    return inputs, out


def requests(n: int, seed: int = 1) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return [
        pd.DataFrame({"x1": rng.normal(size=1 + i % 4), "x2": rng.normal(size=1 + i % 4)})
        for i in range(n)
    ]


async def concurrently(batcher: Batcher, model, frames: list[pd.DataFrame]) -> list:
    return await asyncio.gather(
        *(batcher.predict(model, f) for f in frames), return_exceptions=True
    )


def test_concurrent_requests_share_calls_and_get_exactly_their_own_predictions(model):
    frames = requests(30)
    batcher = Batcher(max_rows=1_000, call=call)
    got = asyncio.run(concurrently(batcher, model, frames))
    assert batcher.calls < len(frames)  # coalesced
    for frame, (inputs, output) in zip(frames, got, strict=True):
        alone_inputs, alone = call(model, frame)
        pd.testing.assert_frame_equal(output, alone)  # exactly, in the request's row order
        pd.testing.assert_frame_equal(inputs, alone_inputs)


def test_a_batch_never_exceeds_max_rows(model):
    sizes: list[int] = []

    def counting(m, frame):
        sizes.append(len(frame))
        return call(m, frame)

    frames = requests(40)
    batcher = Batcher(max_rows=10, call=counting)
    got = asyncio.run(concurrently(batcher, model, frames))
    assert max(sizes) <= 10 and len(sizes) == batcher.calls > 1
    for frame, (_, output) in zip(frames, got, strict=True):
        pd.testing.assert_frame_equal(output, call(model, frame)[1])


def test_a_request_the_model_cannot_predict_fails_alone(model):
    frames = requests(12)
    frames[5] = frames[5].astype(object)
    frames[5].loc[0, "x1"] = "high"
    batcher = Batcher(call=call)
    got = asyncio.run(concurrently(batcher, model, frames))
    assert isinstance(got[5], ValueError)
    for i, frame in enumerate(frames):
        if i != 5:
            pd.testing.assert_frame_equal(got[i][1], call(model, frame)[1])


def test_a_lone_request_is_answered_at_once_and_no_lane_is_kept(model):
    batcher = Batcher(call=call)
    frame = requests(1)[0]
    inputs, output = asyncio.run(batcher.predict(model, frame))
    pd.testing.assert_frame_equal(output, call(model, frame)[1])
    assert batcher.calls == 1 and not batcher._lanes


def test_run_batch_splits_in_order_and_isolates_failures(model):
    frames = requests(3)
    frames[1] = pd.DataFrame({"x1": ["bad"], "x2": [1.0]})
    results = run_batch(call, model, frames, [len(f) for f in frames])
    assert isinstance(results[1], ValueError)
    pd.testing.assert_frame_equal(results[2][1], call(model, frames[2])[1])


def test_a_call_waits_briefly_for_the_requests_its_predecessor_answered(model):
    """Closed-loop clients: eight send, get answered together, and send again a moment
    later. The second call waits for all eight instead of starting with the first."""
    sizes: list[int] = []

    def slow(m, frame):
        sizes.append(len(frame))
        import time

        time.sleep(0.02)  # a 20 ms model: patience up to 2 ms
        return call(m, frame)

    batcher = Batcher(call=slow)
    frames = requests(8)

    async def client(frame, delay):
        await batcher.predict(model, frame)
        await asyncio.sleep(delay)  # the answer's trip and the client's next request
        await batcher.predict(model, frame)

    async def main():
        await asyncio.gather(*(client(f, 0.0002 * i) for i, f in enumerate(frames)))

    asyncio.run(main())
    assert sum(sizes) == 2 * sum(len(f) for f in frames)
    assert batcher.calls == 2, sizes  # not 1 + 1 + 7: the second call waited for the rest


def test_a_lone_client_never_waits_for_a_batch(model):
    import time

    batcher = Batcher(call=call)
    frame = requests(1)[0]

    async def main():
        took = []
        for _ in range(20):
            start = time.perf_counter()
            await batcher.predict(model, frame)
            took.append(time.perf_counter() - start)
        return took

    asyncio.run(main())
    assert batcher._pace(model).requests == 1  # each call answered one: no patience applies


def _where(sleep: float, rows_cost: float = 0.0):
    """A call that records the thread it ran on, taking `sleep` s plus `rows_cost` s a row."""
    import threading
    import time

    threads: list[int] = []

    def recorded(m, frame):  # a constant model: no sklearn call, so it is quick
        threads.append(threading.get_ident())
        time.sleep(sleep + rows_cost * len(frame))
        return frame, pd.DataFrame({"prediction": np.zeros(len(frame), dtype=int)})

    return recorded, threads


def test_a_quick_model_is_called_on_the_event_loop_after_its_first_call(model):
    import threading

    recorded, threads = _where(0.0)
    batcher = Batcher(call=recorded, inline_seconds=0.05)  # a busy machine stays under it

    async def main():
        loop_thread = threading.get_ident()
        for frame in requests(5):
            await batcher.predict(model, frame)
        return loop_thread

    loop_thread = asyncio.run(main())
    assert threads[0] != loop_thread  # the first call: its time unknown, in a thread
    assert threads[1:] == [loop_thread] * 4


def test_a_slow_model_and_a_batch_far_larger_than_the_last_are_called_in_a_thread(model):
    import threading

    recorded, threads = _where(0.06)  # 60 ms a call: never on the loop
    batcher = Batcher(call=recorded, inline_seconds=0.05)

    async def calls(frames):
        for frame in frames:
            await batcher.predict(model, frame)
        return threading.get_ident()

    loop_thread = asyncio.run(calls(requests(4)))
    assert loop_thread not in threads

    recorded, threads = _where(0.0, rows_cost=0.004)  # 4 ms a row
    batcher = Batcher(call=recorded, inline_seconds=0.05)
    big = pd.concat(requests(8), ignore_index=True)  # 20 rows: 80 ms expected
    loop_thread = asyncio.run(calls([requests(1)[0], requests(1)[0], big]))
    assert threads[1] == loop_thread and threads[2] != loop_thread


def test_one_slow_call_does_not_send_a_quick_model_to_a_thread(model):
    import threading
    import time

    threads: list[int] = []
    sleeps = iter([0.0, 0.0, 0.0, 0.12, 0.0, 0.0])  # the fourth call: slowed once

    def once_slow(m, frame):
        threads.append(threading.get_ident())
        time.sleep(next(sleeps))
        return frame, pd.DataFrame({"prediction": np.zeros(len(frame), dtype=int)})

    batcher = Batcher(call=once_slow, inline_seconds=0.05)

    async def main():
        for frame in [requests(1)[0]] * 6:
            await batcher.predict(model, frame)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads[0] != loop_thread
    assert threads[1:] == [loop_thread] * 5  # the median of the last calls, not the last one
