"""What each model input costs, against what it brings (data.3).

Costs are measured on the system's own model and data:

- memory: bytes per row of each input column (pandas `memory_usage(deep=True)`) on at most
  `MEMORY_ROWS` evaluation rows; an input's memory share is its part of the total.
- inference latency: the time to predict a batch of `LATENCY_ROWS` evaluation rows (best of
  `LATENCY_REPEATS`, rounds interleaved so that a busy machine slows every variant alike), and
  the same batch with one input held constant (its median, or its most common value for
  categories). The time an input saves is (all varied − held constant), counted as 0 when it
  is below `LATENCY_NOISE` of the prediction time (timing noise on a shared machine), and its
  latency share is that saving over the time with all inputs varied, or over the sum of every
  input's saving when the savings add up to more (so the shares never add up to more than 1).
  This is an approximation: it captures the cost that depends on the input's values (a string
  encoder looking up many distinct values, parsing, tree paths that go deeper for some values),
  not the fixed cost of carrying the column. Holding any input a tree ensemble splits on
  constant also makes its branches predictable to the processor, which saves time that is not
  the input's own; the savings then add up to more than the whole, which the normalisation
  spreads back over the inputs.
- feature computation: the time of the feature function per row, on at most `FEATURE_ROWS`
  training rows (best of `LATENCY_REPEATS`). One function builds every input, so this time
  cannot be attributed to single inputs; it is reported as a total and added to the latency.

The benefit of an input is its share of the total positive permutation importance (data.2's
result, `keel.model.importance.measure_importance`). An input is flagged when its cost share
(the larger of its memory and latency shares) is at least `min_cost_share` and more than
`max_cost_benefit_ratio` times its benefit share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from keel.model.importance import sample_rows
from keel.model.slices import is_categorical
from keel.system import System

LATENCY_ROWS = 2_000
LATENCY_REPEATS = 5
LATENCY_NOISE = 0.05  # savings below this share of the prediction time are timing noise
MEMORY_ROWS = 20_000
FEATURE_ROWS = 5_000


@dataclass
class Measured:
    """Raw cost measurements of the system's inputs (plain data, cached)."""

    latency_rows: int
    predict_seconds: float  # best time to predict the batch, every input varied
    held_seconds: dict[str, float]  # the same with one input held constant
    memory_rows: int
    bytes_per_row: dict[str, float]
    feature_rows: int = 0
    feature_seconds: float | None = None  # None when there is no feature function

    @property
    def predict_ms_per_row(self) -> float:
        return 1000 * self.predict_seconds / self.latency_rows

    @property
    def feature_ms_per_row(self) -> float | None:
        if self.feature_seconds is None or not self.feature_rows:
            return None
        return 1000 * self.feature_seconds / self.feature_rows

    @property
    def latency_ms_per_row(self) -> float:
        """Feature computation and prediction, per row of a batch."""
        return self.predict_ms_per_row + (self.feature_ms_per_row or 0.0)

    @property
    def total_bytes_per_row(self) -> float:
        return float(sum(self.bytes_per_row.values()))

    def saved_seconds(self, name: str) -> float:
        """Prediction time saved when the input is held constant; 0 within timing noise."""
        saved = self.predict_seconds - self.held_seconds[name]
        return saved if saved >= LATENCY_NOISE * self.predict_seconds else 0.0

    def latency_share(self, name: str) -> float:
        """The time saved holding the input constant, over the prediction time or, when the
        savings of all inputs add up to more, over their sum (module docstring)."""
        total = max(self.predict_seconds, sum(map(self.saved_seconds, self.held_seconds)))
        return self.saved_seconds(name) / total if total > 0 else 0.0

    def memory_share(self, name: str) -> float:
        total = self.total_bytes_per_row
        return self.bytes_per_row[name] / total if total > 0 else 0.0


@dataclass
class InputCost:
    """One input's cost and benefit shares, and whether its cost is too much for its benefit."""

    input: str
    bytes_per_row: float
    memory_share: float
    latency_share: float
    importance_share: float
    flagged: bool

    @property
    def cost_share(self) -> float:
        return max(self.memory_share, self.latency_share)

    @property
    def ratio(self) -> float:
        """Cost share over benefit share; infinite for a cost without benefit."""
        if self.importance_share > 0:
            return self.cost_share / self.importance_share
        return math.inf if self.cost_share > 0 else 0.0


def best_time(func: Callable[[], object], repeats: int = LATENCY_REPEATS) -> float:
    """The shortest of `repeats` wall-clock timings of `func()`, in seconds."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def held_constant(values: pd.Series) -> pd.Series:
    """The column with every row set to one typical value, keeping its dtype.

    Numbers take the value nearest their median, anything else its most common value. A
    column without values is returned as it is.
    """
    present = values.notna().to_numpy()
    if not present.any():
        return values
    if not is_categorical(values) and pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        position = int(np.nanargmin(np.abs(numbers - np.nanmedian(numbers))))
    else:
        codes, _ = pd.factorize(values, use_na_sentinel=True)
        position = int(np.flatnonzero(codes == np.bincount(codes[codes >= 0]).argmax())[0])
    return values.iloc[np.full(len(values), position)].set_axis(values.index)


def measure_costs(system: System) -> Measured:
    """Memory, prediction latency per input, and feature time of the system, cached."""
    seed = system.config.model.seed

    def measure() -> Measured:
        trained = system.trained
        inputs = system.dataset("eval").inputs
        batch = inputs.iloc[sample_rows(len(inputs), LATENCY_ROWS, seed=seed)]
        batch = batch.reset_index(drop=True)
        variants = {}
        for column in batch.columns:
            frame = batch.copy(deep=False)
            frame[column] = held_constant(batch[column])
            variants[str(column)] = frame

        def predict(frame: pd.DataFrame) -> Callable[[], object]:
            return lambda: system.predict(trained.estimator, frame)

        predict(batch)()  # warm up: first calls pay for lazy initialisation
        best = {"": math.inf} | {name: math.inf for name in variants}
        for _ in range(LATENCY_REPEATS):
            best[""] = min(best[""], best_time(predict(batch), 1))
            for name, frame in variants.items():
                best[name] = min(best[name], best_time(predict(frame), 1))

        memory = inputs.iloc[sample_rows(len(inputs), MEMORY_ROWS, seed=seed)]
        usage = memory.memory_usage(deep=True, index=False)
        rows = max(len(memory), 1)
        measured = Measured(
            len(batch),
            best.pop(""),
            best,
            len(memory),
            {str(c): float(usage[c]) / rows for c in memory.columns},
        )
        build = system.features_function
        if build is not None:
            raw = system.raw("train")
            raw = raw.iloc[sample_rows(len(raw), FEATURE_ROWS, seed=seed)]
            measured.feature_rows = len(raw)
            measured.feature_seconds = best_time(lambda: build(raw.copy()))
        return measured

    return system.cached(
        "cost", measure, LATENCY_ROWS, LATENCY_REPEATS, MEMORY_ROWS, FEATURE_ROWS, seed
    )


def judge_costs(
    measured: Measured,
    importance_shares: dict[str, float],
    *,
    min_cost_share: float,
    max_cost_benefit_ratio: float,
) -> list[InputCost]:
    """Every input's cost and benefit shares, flagged as the module docstring says."""
    found = []
    for name, size in measured.bytes_per_row.items():
        cost = InputCost(
            name,
            size,
            measured.memory_share(name),
            measured.latency_share(name),
            importance_shares.get(name, 0.0),
            False,
        )
        cost.flagged = (
            cost.cost_share >= min_cost_share and cost.ratio > max_cost_benefit_ratio + 1e-12
        )
        found.append(cost)
    return found
