"""monitor.6: computing performance per model version, and its jumps and creeps.

Measures of a version come from three places: its lineage (training time, peak memory), the
micro-benchmark `keel bench-model` stores on it as `keel.bench.*` tags (`bench`, `bench_tags`,
`store_tags`), and the latency the server logged while it served (`serving_latency`, from the
windows of the prediction log).

Given one measure's values per version, in promotion order with the serving version last,
`jump` is the relative change of the serving version against the previous measured version
and `creep` the relative change across the last few measured versions; both are signed so
that a positive number is worse (slower, bigger, or fewer rows per second). A change smaller
than the measure's noise floor in absolute terms is not counted (a 0.2 s training taking
0.3 s is noise, not a 50% regression), nor one within the benchmark's own spread: `bench`
times three rounds and stores each figure's median and its spread across the rounds, and a
difference smaller than the two versions' spreads together is what a busy machine does, not
a regression.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BENCH_PREFIX",
    "MEASURES",
    "Measure",
    "bench",
    "bench_side_by_side",
    "bench_tags",
    "creep",
    "jump",
    "read_bench",
    "serving_latency",
    "store_tags",
]

BENCH_PREFIX = "keel.bench."
SINGLE_CALLS = 120  # single-row predictions timed by `bench`
BATCH_CALLS = 24  # predictions of BATCH rows timed by `bench`
ROUNDS = 3  # the calls are timed in rounds: the median round is kept, and the spread
BATCH = 100
WARMUP = 3


@dataclass(frozen=True)
class Measure:
    """One measure of computing performance: its unit, whether lower is better, and the
    absolute change under which a difference is noise."""

    name: str
    label: str
    unit: str
    lower_is_better: bool = True
    floor: float = 0.0


MEASURES: tuple[Measure, ...] = (
    Measure("train_seconds", "training time", "s", floor=1.0),
    Measure("peak_memory_mb", "peak memory at training", "MiB", floor=32.0),
    Measure("bench_single_p50", "bench: 1-row latency p50", "s", floor=0.0005),
    Measure("bench_single_p99", "bench: 1-row latency p99", "s", floor=0.001),
    Measure("bench_batch_p50", f"bench: {BATCH}-row latency p50", "s", floor=0.001),
    Measure("bench_batch_p99", f"bench: {BATCH}-row latency p99", "s", floor=0.002),
    Measure("bench_rows_per_second", "bench: rows per second", "rows/s", lower_is_better=False),
    Measure("serving_p50", "served latency p50", "s", floor=0.0005),
    Measure("serving_p99", "served latency p99", "s", floor=0.001),
)


def _worse(measure: Measure, before: float, after: float, noise: float = 0.0) -> float | None:
    """The relative change from `before` to `after`, positive when worse; None when it cannot
    be said (no positive base) and 0 when the change is within the noise floor or `noise`."""
    if before <= 0 or not np.isfinite(before) or not np.isfinite(after):
        return None
    if abs(after - before) < max(measure.floor, noise):
        return 0.0
    change = (after - before) / before
    return change if measure.lower_is_better else -change


def _measured(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and np.isfinite(v)]


def _noise(spreads: list[float | None] | None, first: int, last: int) -> float:
    if spreads is None:
        return 0.0
    return sum(float(s) for s in (spreads[first], spreads[last]) if s is not None)


def jump(
    measure: Measure, values: list[float | None], spreads: list[float | None] | None = None
) -> float | None:
    """The serving version's (the last value's) change against the previous measured version;
    None when the serving version or no earlier one is measured. `spreads`: each value's
    spread across benchmark rounds (see the module docstring)."""
    if not values or values[-1] is None:
        return None
    earlier = [i for i, v in enumerate(values[:-1]) if v is not None and np.isfinite(v)]
    if not earlier:
        return None
    before = float(values[earlier[-1]])  # type: ignore[arg-type]
    noise = _noise(spreads, earlier[-1], len(values) - 1)
    return _worse(measure, before, float(values[-1]), noise)


def creep(
    measure: Measure,
    values: list[float | None],
    versions: int,
    spreads: list[float | None] | None = None,
) -> float | None:
    """The change across the last `versions` measured versions (first to last, the serving
    version last); None when the serving version is unmeasured or fewer than 3 are."""
    if not values or values[-1] is None:
        return None
    measured = [i for i, v in enumerate(values) if v is not None and np.isfinite(v)][-versions:]
    if len(measured) < 3:
        return None
    first, last = measured[0], measured[-1]
    noise = _noise(spreads, first, last)
    return _worse(measure, float(values[first]), float(values[last]), noise)  # type: ignore[arg-type]


# -- the micro-benchmark ----------------------------------------------------------------------


def _rows(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    if len(frame) >= n:
        return frame.iloc[:n].reset_index(drop=True)
    repeat = -(-n // len(frame))
    return pd.concat([frame] * repeat, ignore_index=True).iloc[:n]


def bench(
    predict: Callable[[pd.DataFrame], Any],
    rows: pd.DataFrame,
    *,
    single_calls: int = SINGLE_CALLS,
    batch_calls: int = BATCH_CALLS,
    batch: int = BATCH,
) -> dict[str, float]:
    """Time `predict` on evaluation `rows`: `single_calls` one-row calls (cycling through the
    rows) and `batch_calls` calls of `batch` rows, in ROUNDS rounds after a few warm-up calls.
    Latency p50 and p99 of each, in seconds, and rows per second over the batch calls: the
    median round, with each figure's spread across rounds (`<name>_spread`)."""
    return bench_side_by_side(
        [predict], rows, single_calls=single_calls, batch_calls=batch_calls, batch=batch
    )[0]


def bench_side_by_side(
    predicts: list[Callable[[pd.DataFrame], Any]],
    rows: pd.DataFrame,
    *,
    single_calls: int = SINGLE_CALLS,
    batch_calls: int = BATCH_CALLS,
    batch: int = BATCH,
) -> list[dict[str, float]]:
    """`bench` of several models at once, their rounds alternating: a machine that slows down
    for a while slows every model alike, so their figures compare (monitor.6 compares a
    version with the previous one measured this way)."""
    if rows.empty:
        raise ValueError("the benchmark needs evaluation rows")
    batch_rows = _rows(rows, batch)
    for predict in predicts:
        for _ in range(WARMUP):
            predict(batch_rows.iloc[:1])
            predict(batch_rows)
    rounds: list[list[dict[str, float]]] = [[] for _ in predicts]
    done = 0
    for _ in range(ROUNDS):
        for index, predict in enumerate(predicts):
            singles, batches = [], []
            for i in range(max(3, single_calls // ROUNDS)):
                row = rows.iloc[[(done + i) % len(rows)]].reset_index(drop=True)
                start = time.perf_counter()
                predict(row)
                singles.append(time.perf_counter() - start)
            for _ in range(max(2, batch_calls // ROUNDS)):
                start = time.perf_counter()
                predict(batch_rows)
                batches.append(time.perf_counter() - start)
            rounds[index].append(
                {
                    "single_p50": float(np.quantile(singles, 0.5)),
                    "single_p99": float(np.quantile(singles, 0.99)),
                    "batch_p50": float(np.quantile(batches, 0.5)),
                    "batch_p99": float(np.quantile(batches, 0.99)),
                    "rows_per_second": batch * len(batches) / float(sum(batches)),
                }
            )
        done += max(3, single_calls // ROUNDS)
    results = []
    for per_model in rounds:
        result: dict[str, float] = {}
        for name in per_model[0]:
            values = [one[name] for one in per_model]
            result[name] = float(np.median(values))
            result[f"{name}_spread"] = float(max(values) - min(values))
        result |= {"single_calls": single_calls, "batch_calls": batch_calls, "batch_rows": batch}
        results.append(result)
    return results


def bench_tags(result: dict[str, float], when: str) -> dict[str, str]:
    """The benchmark as `keel.bench.*` version tags."""
    tags = {BENCH_PREFIX + k: f"{v:.6g}" for k, v in result.items()}
    tags[BENCH_PREFIX + "when"] = when
    return tags


def read_bench(tags: dict[str, str]) -> dict[str, float]:
    """The benchmark stored on a version, keyed as `MEASURES` name them (`bench_single_p50`)."""
    found = {}
    for key, value in tags.items():
        if key.startswith(BENCH_PREFIX) and key != BENCH_PREFIX + "when":
            try:
                found["bench_" + key[len(BENCH_PREFIX) :]] = float(value)
            except ValueError:
                continue
    return found


def store_tags(ref: Any, version: int, tags: dict[str, str]) -> None:
    """Set tags on a registered version (`ref`: a `keel.registry.ref.RegistryRef`)."""
    from keel.registry.store import connect, translated

    store = connect(ref)
    with translated(store.uri):
        for key, value in tags.items():
            store.client.set_model_version_tag(store.model, str(version), key, value)


# -- what the server logged -------------------------------------------------------------------


def serving_latency(windows: Iterable[Any], min_rows: int) -> dict[str, float]:
    """p50 and p99 latency (seconds) over the windows one version served (`PartSummary`s);
    empty when they hold fewer than `min_rows` latencies."""
    merged = None
    for window in windows:
        outputs = window.outputs
        if outputs is None or "latency_seconds" not in outputs.columns:
            continue
        column = outputs.columns["latency_seconds"]
        merged = column.copy() if merged is None else merged.merge(column)
    if merged is None or merged.finite < min_rows:
        return {}
    p50, p99 = merged.quantiles([0.5, 0.99])
    return {"serving_p50": float(p50), "serving_p99": float(p99)}
