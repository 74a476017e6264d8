"""monitor.6: computing performance per model version, and its jumps and creeps: the maths and
the benchmark (monitor.6's verdict on them is `keel.monitor.regressions`).

Measures of a version come from three places: its lineage (training time, peak memory), the
micro-benchmark `keel bench-model` stores on it as `keel.bench.*` tags (`bench`, `bench_tags`,
`store_tags`), and the latency the server logged while it served (`serving_latency`, from the
windows of the prediction log).

Given one measure's values per version, in promotion order with the serving version last,
`jump` is the relative change of the serving version against the previous measured version
and `creep` the relative change across the last few measured versions; `leak` is the change
of one version over time (its newest benchmark against its first, kept in the
`keel.bench.history` tag, or its newest served window against its first): a dependency or
the host slowing the same model. All are signed so that a positive number is worse (slower,
bigger, or fewer rows per second). A change smaller
than the measure's noise floor in absolute terms is not counted (a 0.2 s training taking
0.3 s is noise, not a 50% regression), nor one within the benchmark's own spread: `bench`
times three rounds and stores each figure's median and its spread across the rounds, and a
difference smaller than the two versions' spreads together is what a busy machine does, not
a regression.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BENCH_PREFIX",
    "HISTORY_TAG",
    "MEASURES",
    "Measure",
    "alternate",
    "bench",
    "bench_history",
    "bench_side_by_side",
    "bench_tags",
    "creep",
    "jump",
    "leak",
    "read_bench",
    "serving_latency",
    "serving_latency_per_window",
    "store_tags",
]

BENCH_PREFIX = "keel.bench."
HISTORY_TAG = BENCH_PREFIX + "history"  # every benchmark of the version, as JSON
HISTORY_KEPT = 10  # benchmarks kept in the history: the first and the newest ones
_TIMED = ("single_p50", "single_p99", "batch_p50", "batch_p99", "rows_per_second")
_TIMED = _TIMED + tuple(f"{n}_spread" for n in _TIMED)
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
    """`bench` of several models of this process at once, their rounds alternating: a machine
    that slows down for a while slows every model alike, so their figures compare. (monitor.6
    times registered versions each in its own process: `keel.monitor.bench_apart`.)"""
    if rows.empty:
        raise ValueError("the benchmark needs evaluation rows")
    batch_rows = batch_of(rows, batch)
    for predict in predicts:
        warm_up(predict, batch_rows)
    runners = [
        lambda offset, p=p: one_round(p, rows, batch_rows, offset, single_calls, batch_calls)
        for p in predicts
    ]
    return alternate(runners, single_calls=single_calls, batch_calls=batch_calls, batch=batch)


def batch_of(rows: pd.DataFrame, batch: int = BATCH) -> pd.DataFrame:
    """`batch` evaluation rows (repeated when there are fewer): one batch call's input."""
    return _rows(rows, batch)


def warm_up(predict: Callable[[pd.DataFrame], Any], batch_rows: pd.DataFrame) -> None:
    """A few untimed calls, single-row and batch, before the timed rounds."""
    for _ in range(WARMUP):
        predict(batch_rows.iloc[:1])
        predict(batch_rows)


def one_round(
    predict: Callable[[pd.DataFrame], Any],
    rows: pd.DataFrame,
    batch_rows: pd.DataFrame,
    offset: int,
    single_calls: int = SINGLE_CALLS,
    batch_calls: int = BATCH_CALLS,
) -> dict[str, float]:
    """One timed round: single-row calls from row `offset` on (cycling), then batch calls;
    latency p50 and p99 of each (seconds) and rows per second over the batch calls."""
    singles, batches = [], []
    for i in range(max(3, single_calls // ROUNDS)):
        row = rows.iloc[[(offset + i) % len(rows)]].reset_index(drop=True)
        start = time.perf_counter()
        predict(row)
        singles.append(time.perf_counter() - start)
    for _ in range(max(2, batch_calls // ROUNDS)):
        start = time.perf_counter()
        predict(batch_rows)
        batches.append(time.perf_counter() - start)
    return {
        "single_p50": float(np.quantile(singles, 0.5)),
        "single_p99": float(np.quantile(singles, 0.99)),
        "batch_p50": float(np.quantile(batches, 0.5)),
        "batch_p99": float(np.quantile(batches, 0.99)),
        "rows_per_second": len(batch_rows) * len(batches) / float(sum(batches)),
    }


def alternate(
    runners: list[Callable[[int], dict[str, float]]],
    *,
    single_calls: int = SINGLE_CALLS,
    batch_calls: int = BATCH_CALLS,
    batch: int = BATCH,
) -> list[dict[str, float]]:
    """ROUNDS rounds of every runner (`runner(offset)` times one round), alternating; per
    runner, each figure's median round and its spread across rounds (`<name>_spread`)."""
    rounds: list[list[dict[str, float]]] = [[] for _ in runners]
    done = 0
    for _ in range(ROUNDS):
        for index, runner in enumerate(runners):
            rounds[index].append(runner(done))
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


def bench_tags(
    result: dict[str, float], when: str, history: list[dict[str, Any]] | None = None
) -> dict[str, str]:
    """The benchmark as `keel.bench.*` version tags, and the version's benchmark history
    (`history`: what `bench_history` read from its tags) with this one added."""
    tags = {BENCH_PREFIX + k: f"{v:.6g}" for k, v in result.items()}
    tags[BENCH_PREFIX + "when"] = when
    entry = {"when": when} | {k: float(f"{v:.6g}") for k, v in result.items() if k in _TIMED}
    kept = [*(history or []), entry]
    if len(kept) > HISTORY_KEPT:  # the first benchmark is the version's own reference
        kept = [kept[0], *kept[-(HISTORY_KEPT - 1) :]]
    tags[HISTORY_TAG] = json.dumps(kept, separators=(",", ":"))
    return tags


def bench_history(tags: dict[str, str]) -> list[dict[str, Any]]:
    """Every benchmark of one version stored on it, oldest first (`keel.bench.history`); a
    version benchmarked before Keel kept the history has its one stored benchmark."""
    text = tags.get(HISTORY_TAG)
    if text:
        try:
            found = json.loads(text)
        except ValueError:
            found = None
        if isinstance(found, list):
            return [e for e in found if isinstance(e, dict)]
    stored = read_bench(tags)
    if not stored:
        return []
    when = tags.get(BENCH_PREFIX + "when", "")
    return [{"when": when} | {k[len("bench_") :]: v for k, v in stored.items()}]


def read_bench(tags: dict[str, str]) -> dict[str, float]:
    """The benchmark stored on a version, keyed as `MEASURES` name them (`bench_single_p50`)."""
    found = {}
    for key, value in tags.items():
        if key.startswith(BENCH_PREFIX) and key not in (BENCH_PREFIX + "when", HISTORY_TAG):
            try:
                found["bench_" + key[len(BENCH_PREFIX) :]] = float(value)
            except ValueError:
                continue
    return found


def leak(
    measure: Measure, values: list[float | None], spreads: list[float | None] | None = None
) -> float | None:
    """The same version's change over time: its newest measurement against its first (both
    of one version: a dependency or the host slowing it, not a new model); None with fewer
    than two measurements. `spreads`: each measurement's spread across benchmark rounds."""
    measured = [i for i, v in enumerate(values) if v is not None and np.isfinite(v)]
    if len(measured) < 2:
        return None
    first, last = measured[0], measured[-1]
    noise = _noise(spreads, first, last)
    return _worse(measure, float(values[first]), float(values[last]), noise)  # type: ignore[arg-type]


def store_tags(ref: Any, version: int, tags: dict[str, str]) -> None:
    """Set tags on a registered version (`ref`: a `keel.registry.ref.RegistryRef`)."""
    from keel.registry.store import connect, translated

    store = connect(ref)
    with translated(store.uri):
        for key, value in tags.items():
            store.client.set_model_version_tag(store.model, str(version), key, value)


# -- what the server logged -------------------------------------------------------------------


def serving_latency_per_window(windows: Iterable[Any], min_rows: int) -> list[dict[str, float]]:
    """`serving_latency` of each window apart, oldest first (windows with fewer than
    `min_rows` latencies left out): one version's served latency over time."""
    found = [serving_latency([w], min_rows) for w in windows]
    return [f for f in found if f]


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
