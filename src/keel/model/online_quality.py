"""The online-quality maths the canary and monitoring share: a model's metric on served rows
whose late labels arrived, how far that metric moves by sampling alone, and how far two sets of
predictions lie apart.

Served rows are a frame with `example_id` (text), `prediction` and, for classifiers, the
probabilities: either a `probabilities` column of one dict per row (classes as text keys, as
JSON carried them) or one float column per class named `proba:<class>` (as the monitor's
intake keeps them: `proba_matrix` reads both); labels are a
Series of targets indexed by example id as text. Classes, labels and predictions are compared
as text (`as_text`: 1.0 and 1 are both "1").
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from keel.data.compare import js_divergence, linf_distance
from keel.model.metrics import Predictions, compute

_BINS = 10
PROBA = "proba:"  # the prefix of a class's probability column


def proba_matrix(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]] | None:
    """The rows' probabilities as a matrix, columns in sorted class order (classes as text);
    None when a row has none."""
    columns = [c for c in rows.columns if str(c).startswith(PROBA)]
    if columns:
        classes = [as_text(c[len(PROBA) :]) for c in columns]
        order = np.argsort(classes)
        matrix = rows[columns].to_numpy(dtype=float)[:, order]
        if not len(rows) or np.isnan(matrix).all(axis=1).any():
            return None
        return np.nan_to_num(matrix, nan=0.0), [classes[i] for i in order]
    if "probabilities" not in rows.columns or not len(rows):
        return None
    values = rows["probabilities"]
    if not values.map(lambda v: isinstance(v, dict) and bool(v)).all():
        return None
    texts = [{as_text(k): v for k, v in p.items()} for p in values]
    classes = sorted({k for p in texts for k in p})
    matrix = np.array([[float(p.get(c, 0.0)) for c in classes] for p in texts])
    return matrix, classes


def _frequencies(values: pd.Series) -> dict[str, float]:
    counts = values.astype(str).value_counts()
    return {str(k): float(v) / float(counts.sum()) for k, v in counts.items()}


def prediction_distance(champion: pd.Series, candidate: pd.Series, task: str) -> float:
    """L-infinity between predicted-class frequencies (classifiers), or Jensen-Shannon
    divergence of values binned at the champion's deciles (regression)."""
    if task != "regression":
        return linf_distance(_frequencies(champion), _frequencies(candidate))
    a = champion.astype(float).to_numpy()
    b = candidate.astype(float).to_numpy()
    edges = np.unique(np.quantile(a, np.linspace(0, 1, _BINS + 1)[1:-1]))
    bins_a = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1)
    bins_b = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1)
    return js_divergence(bins_a.astype(float), bins_b.astype(float))


def as_text(value: Any) -> str:
    """A label as text the way JSON keys carry classes (1.0 and 1 are both "1")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def labelled_quality(
    rows: pd.DataFrame, labels: pd.Series, metric: str, task: str
) -> tuple[int, float | None]:
    """(labelled rows, metric on them) for one route's rows; the metric None below 20 rows or
    with one class only."""
    joined = rows.assign(label=rows["example_id"].map(labels)).dropna(subset=["label"])
    if len(joined) < 20:
        return len(joined), None
    if task == "regression":
        y = joined["label"].astype(float).to_numpy()
        predictions = Predictions(joined["prediction"].astype(float).to_numpy())
    else:  # labels, predictions and classes compared as text, as JSON carried them
        y = joined["label"].map(as_text).to_numpy()
        found = proba_matrix(joined)
        if found is None or len(set(y)) < 2:
            return len(joined), None
        proba, classes = found
        predictions = Predictions(
            joined["prediction"].map(as_text).to_numpy(), proba, np.array(classes, dtype=object)
        )
    try:
        return len(joined), float(compute(metric, y, predictions))
    except (ValueError, TypeError):
        return len(joined), None


def quality_spread(
    rows: pd.DataFrame,
    labels: pd.Series,
    *,
    task: str,
    metric: str,
    seed: int = 0,
    draws: int = 100,
) -> float:
    """The bootstrap standard deviation of the metric on these rows' labelled part (rows
    resampled `draws` times): how far it moves by sampling alone. NaN when it cannot be
    estimated (fewer than 20 labelled rows, no probabilities, too few valid resamples)."""
    ids = rows["example_id"].map(lambda v: None if v is None else str(v))
    joined = rows.assign(label=ids.map(labels)).dropna(subset=["label"])
    if len(joined) < 20:
        return float("nan")
    if task == "regression":
        y = joined["label"].astype(float).to_numpy()
        made, proba, classes = joined["prediction"].astype(float).to_numpy(), None, None
    else:  # as labelled_quality: labels and classes as text
        y = joined["label"].map(as_text).to_numpy()
        found = proba_matrix(joined)
        if found is None:
            return float("nan")
        proba, names = found
        made, classes = joined["prediction"].map(as_text).to_numpy(), np.array(names, dtype=object)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        if task != "regression" and len(set(y[i])) < 2:
            continue
        try:
            value = compute(
                metric, y[i], Predictions(made[i], None if proba is None else proba[i], classes)
            )
        except (ValueError, TypeError):
            continue
        if math.isfinite(value):
            values.append(float(value))
    if len(values) < 2:
        return float("nan")
    return float(np.std(values, ddof=1))


def quality_noise(
    rows: pd.DataFrame,
    labels: pd.Series,
    *,
    task: str,
    metric: str,
    seed: int = 0,
    level: float = 0.999,
    draws: int = 100,
) -> float:
    """How far below the true value the metric on these labelled rows can read by sampling
    alone: `quality_spread` times the normal quantile at `level` (0 when it cannot be
    estimated). A window of a few hundred labelled rows reads a ROC AUC several hundredths off
    by chance; a drop within this is not one."""
    spread = quality_spread(rows, labels, task=task, metric=metric, seed=seed, draws=draws)
    return 0.0 if not math.isfinite(spread) else float(NormalDist().inv_cdf(level) * spread)
