"""What each model input costs, against what it brings (data.3).

Costs are measured on the system's own model and data:

- memory: bytes per row of each input column (pandas `memory_usage(deep=True)`) on at most
  `MEMORY_ROWS` evaluation rows; an input's memory share is its part of the total.
- inference latency: the time to predict a batch of evaluation rows (`LATENCY_ROWS`, fewer for
  wide data so that a batch holds at most `LATENCY_CELLS` values), and the same batch with one
  input held constant (its median, or its most common value for categories). Timing runs on
  one thread (a busy machine stalls parallel prediction far more than serial), and in
  `LATENCY_ROUNDS` rounds, each timing the batch as it is right before each variant, so a
  burst of load slows both sides of a pair alike. The time an input saves is the best time
  with all inputs varied minus its best time held constant; it counts only when it is at
  least `LATENCY_NOISE` of the prediction time and the variant was faster in at least
  `MIN_WINS` of the rounds' pairs (otherwise it is timing noise, counted as 0). Its latency
  share is that saving over the time with all inputs varied, or over the sum of every
  saving when the savings add up to more (so the shares never add up to more than 1). This
  is an approximation: it captures the cost that depends on the input's values (a string
  encoder looking up many distinct values, parsing, tree paths that go deeper for some
  values), not the fixed cost of carrying the column. Holding any input a tree ensemble
  splits on constant also makes its branches predictable to the processor, which saves time
  that is not the input's own; the normalisation spreads that back over the inputs.
- wide data: with more inputs than `MAX_LATENCY_VARIANTS`, inputs are first held constant in
  groups (consecutive columns); a group whose saving is noise bounds each member's saving at
  0, which is a measurement of every member. A group that saves time is split in halves and
  timed again, down to single inputs, while the budget of `MAX_LATENCY_VARIANTS` timed
  variants lasts; a group left unsplit gives each member the group's share as an upper bound,
  and the evidence says so (`Measured.groups`).
- feature computation: the time of the feature function per row, on at most `FEATURE_ROWS`
  training rows (best of `LATENCY_REPEATS`). One function builds every input, so this time
  cannot be attributed to single inputs; it is reported as a total and added to the latency.

The benefit of an input is its share of the total positive permutation importance (data.2's
result, `keel.model.importance.measure_importance`). An input is flagged when its cost share
(the larger of its memory and latency shares) is more than `max_cost_benefit_ratio` times its
benefit share and at least its cost floor (`cost_floor`). Shares shrink as inputs are added,
so an absolute floor would let no input of a wide model be flagged (with 8 equally costly
inputs, each holds 12.5%). The floor is therefore relative to an equal share (1 / number of
inputs): an input without measured benefit (not above noise in data.2) is judged from half an
equal share, since anything it costs is more than it brings; an input that helps is judged
from twice an equal share, since the importance of correlated inputs is split between them
and a small share of it does not make an average-cost input a waste. Neither floor is above
`min_cost_share`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from keel.model.contract import Build, Predict
from keel.model.importance import sample_rows
from keel.model.slices import is_categorical

LATENCY_ROWS = 2_000
LATENCY_CELLS = 500_000  # at most rows × inputs values in the timed batch
LATENCY_REPEATS = 5  # feature function timings
LATENCY_ROUNDS = 5
MIN_WINS = 4  # a saving counts when the variant was faster in this many of the rounds' pairs
LATENCY_NOISE = 0.05  # savings below this share of the prediction time are timing noise
MAX_LATENCY_VARIANTS = 64
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
    # keys of held_seconds that are groups of inputs held constant together, with their members
    groups: dict[str, list[str]] = field(default_factory=dict)

    def timed_as(self, name: str) -> str:
        """The key of held_seconds under which the input was timed: itself, or its group."""
        if name in self.held_seconds:
            return name
        return next(k for k, members in self.groups.items() if name in members)

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
        savings of all inputs add up to more, over their sum (module docstring). For an input
        timed in a group, the group's share: an upper bound of its own."""
        total = max(self.predict_seconds, sum(map(self.saved_seconds, self.held_seconds)))
        return self.saved_seconds(self.timed_as(name)) / total if total > 0 else 0.0

    def group_size(self, name: str) -> int:
        """1 for an input timed alone, else the size of the group it was timed in."""
        key = self.timed_as(name)
        return len(self.groups[key]) if key in self.groups else 1

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
    latency_group: int = 1  # inputs held constant together when its latency was timed

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


def _pair_times(
    predict: Callable[[pd.DataFrame], object], batch: pd.DataFrame, variant: pd.DataFrame
) -> tuple[float, float]:
    start = time.perf_counter()
    predict(batch)
    middle = time.perf_counter()
    predict(variant)
    return middle - start, time.perf_counter() - middle


def time_variants(
    predict: Callable[[pd.DataFrame], object],
    batch: pd.DataFrame,
    held: dict[str, list[str]],
    rounds: int = LATENCY_ROUNDS,
) -> tuple[float, dict[str, float]]:
    """The best time of the batch, and per variant (inputs held constant) its best time, or
    the batch's when the variant was not faster in `MIN_WINS` of the rounds (noise)."""
    frames = {}
    for key, columns in held.items():
        frame = batch.copy(deep=False)
        for column in columns:
            frame[column] = held_constant(batch[column])
        frames[key] = frame
    best_all = math.inf
    best = dict.fromkeys(frames, math.inf)
    wins = dict.fromkeys(frames, 0)
    for _ in range(rounds):
        for key, frame in frames.items():
            t_all, t_held = _pair_times(predict, batch, frame)
            best_all = min(best_all, t_all)
            best[key] = min(best[key], t_held)
            wins[key] += t_held < t_all
    need = min(MIN_WINS, rounds)
    return best_all, {k: (best[k] if wins[k] >= need else best_all) for k in frames}


def _group_name(members: list[str]) -> str:
    return f"{len(members)} inputs {members[0]} … {members[-1]}"


def time_inputs(
    predict: Callable[[pd.DataFrame], object],
    batch: pd.DataFrame,
    *,
    budget: int = MAX_LATENCY_VARIANTS,
) -> tuple[float, dict[str, float], dict[str, list[str]]]:
    """Best prediction time, held-constant times of a partition of the inputs, and the groups
    of that partition (module docstring: one by one, or groups split while they save time)."""
    names = [str(c) for c in batch.columns]
    if len(names) <= budget:
        best, held = time_variants(predict, batch, {n: [n] for n in names})
        return best, held, {}
    size = math.ceil(len(names) / (budget // 2))
    todo = {
        _group_name(names[i : i + size]): names[i : i + size] for i in range(0, len(names), size)
    }
    spent, final, groups, best_all = 0, {}, {}, math.inf
    while todo:
        best, held = time_variants(predict, batch, todo)
        spent += len(todo)
        best_all = min(best_all, best)
        following: dict[str, list[str]] = {}
        for key, members in todo.items():
            saves = held[key] < best and best - held[key] >= LATENCY_NOISE * best
            if len(members) == 1:
                final[members[0]] = held[key]
            elif saves and spent + len(following) + 2 <= budget:
                half = len(members) // 2
                for part in (members[:half], members[half:]):
                    following[part[0] if len(part) == 1 else _group_name(part)] = part
            else:
                final[key], groups[key] = held[key], members
        todo = following
    # times of every round are judged against the best time of the batch seen in any round
    return best_all, {k: min(v, best_all) for k, v in final.items()}, groups


def latency_batch_rows(inputs: int) -> int:
    """Rows of the timed batch: `LATENCY_ROWS`, fewer when that many rows of the inputs would
    hold more than `LATENCY_CELLS` values (at least 100)."""
    return max(100, min(LATENCY_ROWS, LATENCY_CELLS // max(inputs, 1)))


def measure_costs(
    predict: Predict,
    inputs: pd.DataFrame,
    *,
    seed: int,
    build: Build | None = None,
    raw: pd.DataFrame | None = None,
) -> Measured:
    """Memory and prediction latency per input on evaluation `inputs`, and the time of the
    feature function `build` on `raw` training rows (when there is one).

    `predict` gives the model's predictions on a frame of inputs.
    """
    from threadpoolctl import threadpool_limits

    rows = latency_batch_rows(inputs.shape[1])
    batch = inputs.iloc[sample_rows(len(inputs), rows, seed=seed)]
    batch = batch.reset_index(drop=True)
    with threadpool_limits(1):
        predict(batch)  # warm up: first calls pay for lazy initialisation
        best, held, groups = time_inputs(predict, batch)
    memory = inputs.iloc[sample_rows(len(inputs), MEMORY_ROWS, seed=seed)]
    usage = memory.memory_usage(deep=True, index=False)
    n = max(len(memory), 1)
    measured = Measured(
        len(batch),
        best,
        held,
        len(memory),
        {str(c): float(usage[c]) / n for c in memory.columns},
        groups=groups,
    )
    if build is not None and raw is not None:
        rows_built = raw.iloc[sample_rows(len(raw), FEATURE_ROWS, seed=seed)]
        measured.feature_rows = len(rows_built)
        measured.feature_seconds = best_time(lambda: build(rows_built.copy()))
    return measured


def cost_floor(min_cost_share: float, inputs: int, *, helps: bool = False) -> float:
    """The cost share from which an input is judged (module docstring): half an equal share
    of the inputs, or twice an equal share for an input that helps, at most `min_cost_share`."""
    equal = 1 / max(inputs, 1)
    return min(min_cost_share, (2.0 if helps else 0.5) * equal)


def judge_costs(
    measured: Measured,
    importance_shares: dict[str, float],
    *,
    min_cost_share: float,
    max_cost_benefit_ratio: float,
    helpful: set[str] | None = None,
) -> list[InputCost]:
    """Every input's cost and benefit shares, flagged as the module docstring says.

    `helpful`: the inputs with a measured benefit (above noise); by default those with a
    positive importance share.
    """
    found = []
    if helpful is None:
        helpful = {name for name, share in importance_shares.items() if share > 0}
    for name, size in measured.bytes_per_row.items():
        floor = cost_floor(min_cost_share, len(measured.bytes_per_row), helps=name in helpful)
        cost = InputCost(
            name,
            size,
            measured.memory_share(name),
            measured.latency_share(name),
            importance_shares.get(name, 0.0),
            False,
            measured.group_size(name),
        )
        cost.flagged = cost.cost_share >= floor and cost.ratio > max_cost_benefit_ratio + 1e-12
        found.append(cost)
    return found
