"""Per-input contributions of any model by Shapley sampling over permutations.

Private to `keel.model.explain`, for models with no exact method (kernel SVMs, neighbours,
calibrated or voting ensembles, custom estimators): only the model's output is needed.

For the row x being explained, each sample draws a training row z and an order of the inputs,
then walks from z to x switching one input at a time from z's value to x's, in that order; the
change of the model's output at each switch is credited to the input switched. The contribution
of an input is its mean credit over the samples (Štrumbelj and Kononenko's estimate of its
Shapley value against the training rows). Samples come in pairs, an order and its reverse with
the same z, which lowers the variance.

Additivity holds by construction: along each walk the credits telescope to f(x) − f(z), so

    baseline (the mean of f(z) over the samples) + Σ contributions = f(x)

exactly, whatever the number of samples; the contributions themselves are estimates, each with
its standard error. The check `keel explain` then makes, against the model's own output on x
computed separately, proves the bookkeeping and that the model gives the same output for the
same row, not the accuracy of the estimates (the standard errors give that).

The walks are evaluated on whole model-input rows, so categorical and text inputs are switched
as they are, and contributions land on the model inputs directly, whatever the pipeline mixes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

EVALUATIONS_PER_ROW = 2_000  # model outputs computed per explained row (sets the sample count)
MAX_SAMPLES = 64
MIN_SAMPLES = 2  # one order and its reverse


class CannotSample(Exception):
    """The model failed on rows mixing the explained row's values with a training row's."""


@dataclass
class Sampled:
    """Shapley estimates for one row: baseline + Σ contributions = `last` (f(x) in the walk)."""

    baseline: float
    contributions: np.ndarray  # (inputs,)
    errors: np.ndarray  # (inputs,): standard error of each contribution
    last: float
    samples: int


def sample_count(n_inputs: int) -> int:
    """Samples per row: as many as EVALUATIONS_PER_ROW model outputs allow, an even number
    between MIN_SAMPLES and MAX_SAMPLES."""
    fit = EVALUATIONS_PER_ROW // (n_inputs + 1)
    return int(max(MIN_SAMPLES, min(MAX_SAMPLES, fit - fit % 2)))


def _walks(
    row: pd.DataFrame, background: pd.DataFrame, orders: np.ndarray, starts: np.ndarray
) -> pd.DataFrame:
    """The rows of every walk: for sample m and step t (0…p), the inputs placed in the first t
    positions of `orders[m]` take the row's value, the others the training row starts[m]'s."""
    samples, p = orders.shape
    rank = np.empty_like(orders)
    rank[np.arange(samples)[:, None], orders] = np.arange(p)
    steps = np.arange(p + 1)
    from_row = rank[:, None, :] < steps[None, :, None]  # (samples, p + 1, p)
    start = np.repeat(starts + 1, p + 1)
    columns = {}
    for j, name in enumerate(row.columns):
        where = np.where(from_row[:, :, j].reshape(-1), 0, start)
        columns[name] = _joined(row[name], background[name]).iloc[where].reset_index(drop=True)
    return pd.DataFrame(columns)


def _joined(first: pd.Series, rest: pd.Series) -> pd.Series:
    """One column of the row then the training rows, keeping a categorical dtype (with the
    categories of both) where concatenating would fall back to object."""
    if isinstance(first.dtype, pd.CategoricalDtype) or isinstance(rest.dtype, pd.CategoricalDtype):
        both = pd.api.types.union_categoricals(
            [first.astype("category"), rest.astype("category")], ignore_order=True
        )
        return pd.Series(both)
    return pd.concat([first, rest], ignore_index=True)


def shapley_sampling(
    score: Callable[[pd.DataFrame], np.ndarray],
    row: pd.DataFrame,
    background: pd.DataFrame,
    *,
    samples: int,
    rng: np.random.Generator,
) -> Sampled:
    """Shapley estimates of `score` (model inputs → one number per row) for the one-row frame
    `row`, against the training rows `background`, from `samples` walks (an even number)."""
    p = row.shape[1]
    half = max(1, samples // 2)
    orders = np.array([rng.permutation(p) for _ in range(half)])
    orders = np.concatenate([orders, orders[:, ::-1]])
    starts = np.tile(rng.integers(0, len(background), size=half), 2)
    frame = _walks(row.reset_index(drop=True), background.reset_index(drop=True), orders, starts)
    try:
        values = np.asarray(score(frame), dtype=float).reshape(len(orders), p + 1)
    except Exception as exc:
        raise CannotSample(
            f"the model failed on rows mixing the explained row's values with a training "
            f"row's ({type(exc).__name__}: {exc})"
        ) from exc
    credits = np.zeros((len(orders), p))
    credits[np.arange(len(orders))[:, None], orders] = np.diff(values, axis=1)
    pairs = (credits[:half] + credits[half:]) / 2  # a pair's two walks are not independent
    errors = pairs.std(axis=0, ddof=1) / np.sqrt(half) if half > 1 else np.full(p, np.nan)
    return Sampled(
        baseline=float(values[:, 0].mean()),
        contributions=credits.mean(axis=0),
        errors=errors,
        last=float(values[:, -1].mean()),
        samples=len(orders),
    )
