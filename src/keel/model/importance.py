"""Whether every model input helps (data.2): permutation importance, near-duplicate inputs, and
leave-one-feature-out retraining.

Permutation importance: on a seeded sample of evaluation rows, each input's column is shuffled
`repeats` times (the other inputs left as they are) and the primary metric is recomputed from
the predictions on the shuffled rows. An input's importance is the mean drop of the metric; it
is above noise when `mean − 2·std > 0` over the repeats (the sample standard deviation).
Metrics come from `Predictions`, as everywhere in Keel, so any estimator with `predict` (and
`predict_proba`) is measured alike.

Near-duplicates, on at most `DUPLICATE_ROWS` evaluation inputs:

    numeric vs numeric           absolute Pearson correlation, missing values dropped pair by pair
    categorical vs categorical   bias-corrected Cramér's V, missing values as a value of their own,
                                 for columns of at most `MAX_CATEGORIES` distinct values

A pair at or above `max_correlation` carries the same information twice. Numeric pairs are
computed all at once as matrix products (pairwise-complete when values are missing), on at most
`DUPLICATE_CELLS` values, so thousands of inputs take seconds.

Wide models (more than `MAX_IMPORTANCE_VARIANTS` inputs): permutation importance is measured
by group testing. Consecutive inputs are shuffled together (one row permutation for the whole
group); a group whose drop is not above noise shows that none of its members carries signal
the model uses, which is a measurement of every member. A group above noise is split in halves
and measured again (groups with `GROUP_REPEATS` shuffles, single inputs with the configured
repeats), down to single inputs, while the budget of `MAX_IMPORTANCE_VARIANTS`
shuffled variants lasts; an input is called helpful only when measured alone, and a member of a
group left unsplit is reported as such (`InputImportance.group`). Wide models are measured on
fewer rows, at most `IMPORTANCE_CELLS` values per predicted frame.

Leave-one-feature-out (LOFO, `keel score --deep`): the user's training function is run on a
seeded sample of at most `LOFO_ROWS` training rows with all inputs, then once without each input;
an input's LOFO delta is the metric with it minus the metric without it on at most
`LOFO_EVAL_ROWS` evaluation rows. An input whose removal does not lower the metric (delta ≤ 0)
is redundant or useless to the model as trained.

An input not above noise here is only a candidate for dropping: `keel.model.droppable` shuffles
the candidates with the inputs they stand in for, and retrains without the ones it would advise
dropping before data.2 and data.3 say so.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from keel.errors import CheckError
from keel.model.contract import Dataset, Fit, Predict, PredictWith
from keel.model.fairness import abs_pearson, cramers_v
from keel.model.metrics import compute
from keel.model.slices import is_categorical

NOISE_STDS = 2.0  # an input is above noise when mean − NOISE_STDS · std of its drops > 0
DUPLICATE_ROWS = 20_000
DUPLICATE_CELLS = 10_000_000  # rows × numeric inputs of the near-duplicate scan
IMPORTANCE_CELLS = 1_000_000  # rows × inputs of the frames predicted for permutation importance
GROUP_REPEATS = 3  # shuffles of a group of inputs (single inputs get [importance] repeats)
MAX_IMPORTANCE_VARIANTS = 96
MAX_CATEGORIES = 1_000
LOFO_ROWS = 20_000
LOFO_EVAL_ROWS = 20_000


@dataclass
class InputImportance:
    """How much the metric drops when one input is shuffled, over the repeats."""

    input: str
    drops: list[float]
    group: int = 1  # inputs shuffled together when measured (1: measured alone)
    resolved: bool = True  # False: its group helps, but it was not measured alone

    @property
    def mean(self) -> float:
        return float(np.mean(self.drops))

    @property
    def std(self) -> float:
        return float(np.std(self.drops, ddof=1)) if len(self.drops) > 1 else 0.0

    @property
    def lower(self) -> float:
        """The mean drop less `NOISE_STDS` standard deviations."""
        return self.mean - NOISE_STDS * self.std

    @property
    def above_noise(self) -> bool:
        return self.lower > 0


@dataclass
class Duplicate:
    """Two inputs that carry (nearly) the same information."""

    first: str
    second: str
    measure: str
    value: float


@dataclass
class Importance:
    """Permutation importance of every input and the near-duplicate pairs (plain data)."""

    metric: str
    baseline: float  # the metric on the sampled rows, nothing shuffled
    rows: int
    repeats: int
    inputs: list[InputImportance]
    duplicates: list[Duplicate] = field(default_factory=list)
    seconds: float = 0.0

    def shares(self) -> dict[str, float]:
        """Each input's share of the total positive importance (0 for all when none helps);
        an input measured in a group holds an equal part of the group's."""
        positive = {i.input: max(i.mean, 0.0) / i.group for i in self.inputs}
        total = sum(positive.values())
        return {k: (v / total if total > 0 else 0.0) for k, v in positive.items()}


@dataclass
class Lofo:
    """Leave-one-feature-out retraining: the metric with all inputs and the drop without each."""

    metric: str
    baseline: float
    train_rows: int
    eval_rows: int
    deltas: dict[str, float]  # metric with all inputs − metric without the input
    seconds: float = 0.0
    noise: float = 0.0  # |metric difference| of two trainings on all inputs with different seeds

    def verdict(self, name: str) -> str:
        """ "harmful" when removal helps beyond retraining noise, "redundant" within it."""
        delta = self.deltas.get(name)
        if delta is None or delta > self.noise:
            return "helps"
        return "harmful" if delta < -self.noise else "redundant"


def sample_rows(n: int, size: int, *, seed: int) -> np.ndarray:
    """Sorted positions of at most `size` of `n` rows, drawn with `seed` (all rows if fewer)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def importance_rows(n: int, width: int, *, sample: int, seed: int) -> np.ndarray:
    """The evaluation rows permutation importance reads: a seeded sample of at most `sample`
    of `n` rows, fewer for wide inputs (at most `IMPORTANCE_CELLS` values, at least 1,000 rows)."""
    size = min(sample, max(1_000, IMPORTANCE_CELLS // max(width, 1)))
    return sample_rows(n, size, seed=seed)


def permutation_importance(
    predict: Predict,
    inputs: pd.DataFrame,
    target: pd.Series | np.ndarray,
    *,
    metric: str,
    repeats: int,
    seed: int = 0,
) -> tuple[float, list[InputImportance]]:
    """The metric on `inputs`, and each input's drops of it when its column is shuffled.

    `predict` maps a frame of inputs to `Predictions`; `metric` is a name from
    `keel.model.metrics.METRICS` (higher is better). Shuffles are seeded by `seed` and the
    input's name, so an input's result does not depend on the order of the columns.
    """
    if repeats < 1:
        raise ValueError(
            "The 'repeats' parameter of permutation_importance must be an int >= 1. "
            f"Got {repeats!r} instead."
        )
    y = np.asarray(target)
    frame = inputs.reset_index(drop=True)
    baseline = compute(metric, y, predict(frame))
    found = []
    for column in frame.columns:
        rng = np.random.default_rng([seed, zlib.crc32(str(column).encode())])
        values = frame[column]
        drops = []
        for _ in range(repeats):
            shuffled = frame.copy(deep=False)
            shuffled[column] = values.iloc[rng.permutation(len(frame))].set_axis(frame.index)
            drops.append(baseline - compute(metric, y, predict(shuffled)))
        found.append(InputImportance(str(column), drops))
    return baseline, found


def group_drops(
    predict: Predict,
    frame: pd.DataFrame,
    y: np.ndarray,
    baseline: float,
    columns: list[str],
    *,
    metric: str,
    repeats: int,
    seed: int,
) -> list[float]:
    """Drops of the metric when `columns` are shuffled together (one permutation per repeat)."""
    rng = np.random.default_rng([seed, zlib.crc32("\0".join(columns).encode())])
    drops = []
    for _ in range(repeats):
        order = rng.permutation(len(frame))
        shuffled = frame.copy(deep=False)
        if len(columns) == 1:
            shuffled[columns[0]] = frame[columns[0]].iloc[order].set_axis(frame.index)
        else:  # one assignment of the whole group: fast on wide frames, dtypes kept
            shuffled[columns] = frame[columns].iloc[order].set_axis(frame.index)
        drops.append(baseline - compute(metric, y, predict(shuffled)))
    return drops


def grouped_importance(
    predict: Predict,
    inputs: pd.DataFrame,
    target: pd.Series | np.ndarray,
    *,
    metric: str,
    repeats: int,
    seed: int = 0,
    budget: int = MAX_IMPORTANCE_VARIANTS,
) -> tuple[float, list[InputImportance]]:
    """Permutation importance by group testing (module docstring), for wide models.

    With at most `budget` inputs, every input is shuffled alone (`permutation_importance`).
    """
    if inputs.shape[1] <= budget:
        return permutation_importance(
            predict, inputs, target, metric=metric, repeats=repeats, seed=seed
        )
    y = np.asarray(target)
    frame = inputs.reset_index(drop=True)
    baseline = compute(metric, y, predict(frame))
    names = [str(c) for c in frame.columns]
    size = math.ceil(len(names) / (budget // 3))
    todo = [names[i : i + size] for i in range(0, len(names), size)]
    spent, found = 0, []
    while todo:
        following = []
        for index, members in enumerate(todo):
            times = repeats if len(members) == 1 else min(repeats, GROUP_REPEATS)
            drops = group_drops(
                predict, frame, y, baseline, members, metric=metric, repeats=times, seed=seed
            )
            spent += 1
            helps = InputImportance("", drops).above_noise
            planned = spent + (len(todo) - index - 1) + len(following)  # variants promised
            if len(members) == 1:
                found.append(InputImportance(members[0], drops))
            elif helps and planned + 2 <= budget:
                half = len(members) // 2
                following += [members[:half], members[half:]]
            else:
                found += [InputImportance(m, drops, len(members), not helps) for m in members]
        todo = following
    order = {name: i for i, name in enumerate(names)}
    return baseline, sorted(found, key=lambda i: order[i.input])


def abs_pearson_matrix(numbers: np.ndarray) -> np.ndarray:
    """|Pearson r| of every pair of columns, missing values dropped pair by pair; 0 where a
    column is constant on the rows both hold."""
    present = ~np.isnan(numbers)
    if present.all():
        centred = numbers - numbers.mean(axis=0)
        scale = np.sqrt((centred * centred).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (centred.T @ centred) / np.outer(scale, scale)
    else:
        mask = present.astype("float64")
        x = np.where(present, numbers, 0.0)
        n = mask.T @ mask
        sx = x.T @ mask  # sx[i, j]: the sum of column i where j is present too
        sxx = (x * x).T @ mask
        sxy = x.T @ x
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = sxy - sx * sx.T / n
            var = (sxx - sx * sx / n) * (sxx.T - sx.T * sx.T / n)
            r = cov / np.sqrt(var)
    r = np.abs(np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0))
    return np.minimum(r, 1.0)


def near_duplicates(
    inputs: pd.DataFrame,
    *,
    max_correlation: float,
    max_rows: int = DUPLICATE_ROWS,
    seed: int = 0,
) -> list[Duplicate]:
    """Pairs of inputs at or above `max_correlation` (module docstring), strongest first."""
    numeric = [c for c in inputs.columns if not is_categorical(inputs[c])]
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(inputs[c].dtype)]
    rows = min(max_rows, max(1_000, DUPLICATE_CELLS // max(len(numeric), 1)))
    frame = inputs.iloc[sample_rows(len(inputs), rows, seed=seed)].reset_index(drop=True)
    categorical = [
        c
        for c in frame.columns
        if is_categorical(frame[c]) and frame[c].nunique(dropna=False) <= MAX_CATEGORIES
    ]
    found = []
    if len(numeric) > 1:
        numbers = frame[numeric].to_numpy(dtype="float64", na_value=np.nan)
        r = abs_pearson_matrix(numbers)
        for i, j in zip(*np.nonzero(np.triu(r >= max_correlation, k=1)), strict=True):
            a, b = numeric[i], numeric[j]
            both = ~(np.isnan(numbers[:, i]) | np.isnan(numbers[:, j]))
            value = abs_pearson(numbers[both, i], numbers[both, j])  # exact, for the report
            if value >= max_correlation:
                found.append(Duplicate(str(a), str(b), "|Pearson r|", value))
    labels = {c: frame[c].astype(object).where(frame[c].notna(), "<missing>") for c in categorical}
    for i, a in enumerate(categorical):
        for b in categorical[i + 1 :]:
            value = cramers_v(labels[a], labels[b])
            if value >= max_correlation:
                found.append(Duplicate(str(a), str(b), "Cramér's V", value))
    return sorted(found, key=lambda d: -d.value)


def _metric_defined(value: float, what: str, metric: str) -> float:
    if math.isnan(value):
        raise CheckError(
            f"{metric} is undefined on {what} (a single class?); evaluate on rows holding "
            "every class"
        )
    return value


def measure_importance(
    predict: Predict,
    inputs: pd.DataFrame,
    target: pd.Series,
    *,
    metric: str,
    sample: int,
    repeats: int,
    max_correlation: float,
    seed: int,
) -> Importance:
    """Permutation importance of a model's inputs and their near-duplicates, on evaluation rows.

    `predict` gives the model's predictions on a frame of inputs; `sample`, `repeats` and
    `max_correlation` are the [importance] settings. data.2 and data.3 share this result.
    """
    start = time.perf_counter()
    if inputs.shape[1] == 0:
        raise CheckError("the model has no inputs; the feature function returned no columns")
    rows = importance_rows(len(inputs), inputs.shape[1], sample=sample, seed=seed)
    baseline, found = grouped_importance(
        predict, inputs.iloc[rows], target.iloc[rows], metric=metric, repeats=repeats, seed=seed
    )
    _metric_defined(baseline, f"the {len(rows)} sampled evaluation rows", metric)
    duplicates = near_duplicates(inputs, max_correlation=max_correlation, seed=seed)
    return Importance(
        metric, baseline, len(rows), repeats, found, duplicates, time.perf_counter() - start
    )


def measure_lofo(
    fit: Fit,
    predict: PredictWith,
    train: Dataset,
    evaluation: Dataset,
    *,
    metric: str,
    seed: int,
) -> Lofo:
    """Leave-one-feature-out retraining with the user's training function (module docstring)."""
    start = time.perf_counter()
    rows = sample_rows(len(train.inputs), LOFO_ROWS, seed=seed)
    eval_rows = sample_rows(len(evaluation.inputs), LOFO_EVAL_ROWS, seed=seed)
    x_train, y_train = train.inputs.iloc[rows], train.target.iloc[rows]
    x_eval, y_eval = evaluation.inputs.iloc[eval_rows], evaluation.target.iloc[eval_rows]

    def score(columns: list[str], train_seed: int = seed) -> float:
        estimator = fit(x_train[columns], y_train, seed=train_seed)
        return compute(metric, np.asarray(y_eval), predict(estimator, x_eval[columns]))

    columns = list(x_train.columns)
    baseline = _metric_defined(
        score(columns), f"the {len(eval_rows)} sampled evaluation rows", metric
    )
    noise = abs(baseline - score(columns, seed + 1))
    deltas = {}
    for column in columns:
        kept = [c for c in columns if c != column]
        if not kept:
            continue
        try:
            deltas[str(column)] = baseline - score(kept)
        except CheckError as exc:
            raise CheckError(
                f"leave-one-feature-out: training without input {column!r} failed: {exc}"
            ) from exc
    return Lofo(
        metric, baseline, len(rows), len(eval_rows), deltas, time.perf_counter() - start, noise
    )
