"""Whether training is reproducible (infra.1): the same inputs, trained twice in fresh processes.

Two processes started side by side (`keel.checks._measure_infra`, half the cores each unless the
user set thread counts: `shared_cores`) each build the System from keel.toml without the cache
and run `train_once`: train the user's model on the same seeded sample of at most
[reproducibility] sample training rows (`bounded_sample`), and predict the same seeded sample of
at most as many evaluation rows. Each gives its predictions (class probabilities for
classifiers, else the predicted values) and what it can tell about itself (`Run`): the metric,
the training time, its thread pools (threadpoolctl and the `*_NUM_THREADS` variables) and
every `random_state` parameter of the fitted model.

Compared (`compare`): the largest absolute difference of the two processes' predictions, the
share of rows whose predictions differ by more than `max_prediction_difference`, and the
difference of the primary metric. When they differ, the causes Keel can see are named:

    unseeded estimator     a `random_state` parameter left None (pipeline steps included)
    seed not passed on     a `random_state` other than [model] seed
    threads                the two processes ran with different thread counts
    otherwise              randomness outside the model's parameters: `numpy.random` or
                           `random` without a seed, iteration over sets (string hashing is
                           salted per process), the order of rows read
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keel.errors import CheckError
from keel.model.contract import Dataset, Fit, PredictWith
from keel.model.importance import sample_rows
from keel.model.metrics import compute

# Training cells (rows × model inputs) each process trains on at most: on wide data the sample
# shrinks below [reproducibility] sample (never under MIN_ROWS rows), and the evidence says so.
MAX_CELLS = 4_000_000
MIN_ROWS = 1_000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DIFFERENCE_BINS = (1e-12, 1e-9, 1e-6, 1e-3)  # upper edges of the |difference| histogram


@dataclass
class Run:
    """What one training process reported."""

    metric: float
    seconds: float
    rows: int
    eval_rows: int
    threads: dict[str, Any]
    random_states: dict[str, Any]


@dataclass
class Reproduction:
    """Two trainings from the same inputs, compared."""

    runs: list[Run]
    seed: int
    max_difference: float
    differing_share: float
    metric_difference: float
    bins: dict[str, float]  # share of rows by |difference|
    causes: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)  # latent: unseeded, but identical this time
    seconds: float = 0.0
    bounded: str = ""  # why fewer rows than [reproducibility] sample were used, if so


def random_states(estimator: Any) -> dict[str, Any]:
    """Every `random_state` parameter of a fitted model and its steps, as plain values."""
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    try:
        params = get_params(deep=True)
    except Exception:
        return {}
    found = {}
    for key, value in params.items():
        if key == "random_state" or key.endswith("__random_state"):
            found[key] = value if value is None or isinstance(value, int) else repr(value)
    return found


def thread_settings() -> dict[str, Any]:
    """This process's thread pools and thread-count environment variables."""
    from threadpoolctl import threadpool_info

    found: dict[str, Any] = {
        f"{pool['internal_api']} threads": pool["num_threads"] for pool in threadpool_info()
    }
    for name in THREAD_VARIABLES:
        found[name] = os.environ.get(name)
    found["cpus available"] = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    return found


def train_once(
    fit: Fit,
    predict: PredictWith,
    train: Dataset,
    evaluation: Dataset,
    *,
    metric: str,
    sample: int,
    seed: int,
    left_out: np.ndarray | None = None,
) -> tuple[np.ndarray, Run]:
    """One training of the two: train on a seeded sample of at most `sample` training rows,
    predict a seeded sample of as many evaluation rows; (the predictions, what the run was).

    `left_out` are positions of evaluation rows the model raises on (found by the parent):
    never sampled.
    """
    keep = np.ones(len(evaluation.inputs), dtype=bool)
    if left_out is not None:
        keep[left_out] = False
    eval_rows = np.flatnonzero(keep)[sample_rows(int(keep.sum()), sample, seed=seed)]
    rows = sample_rows(len(train.inputs), sample, seed=seed)
    start = time.perf_counter()
    estimator = fit(train.inputs.iloc[rows], train.target.iloc[rows])
    seconds = time.perf_counter() - start
    predictions = predict(estimator, evaluation.inputs.iloc[eval_rows])
    value = compute(metric, np.asarray(evaluation.target.iloc[eval_rows]), predictions)
    values = predictions.proba if predictions.proba is not None else predictions.labels
    values = np.asarray(values)
    run = Run(
        metric=value,
        seconds=seconds,
        rows=len(rows),
        eval_rows=len(eval_rows),
        threads=thread_settings(),
        random_states=random_states(estimator),
    )
    return (values if values.dtype != object else values.astype(str)), run


def shared_cores(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """Thread counts for each of the two processes trained side by side: half the cores each,
    unless the user set them. Two OpenMP pools each as wide as the machine spin against each
    other (HistGradientBoosting at 2,000 inputs trained 6x slower that way on 2 cores)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = str(max(1, (cpus or 1) // 2))
    return {name: share for name in THREAD_VARIABLES if not environ.get(name)}


def _bins(difference: np.ndarray) -> dict[str, float]:
    """The share of rows by how much their two predictions differ."""
    n = max(len(difference), 1)
    shares = {"identical": float(np.sum(difference == 0)) / n}
    low = 0.0
    for high in DIFFERENCE_BINS:
        shares[f"≤ {high:g}"] = float(np.sum((difference > low) & (difference <= high))) / n
        low = high
    shares[f"> {low:g}"] = float(np.sum(difference > low)) / n
    return shares


def bin_beyond(label: str, limit: float) -> bool:
    """Whether the rows of a bin of `Reproduction.bins` (by its label) differ beyond `limit`."""
    if label == "identical":
        return False
    bound = float(label.split()[-1])
    return bound > limit if label.startswith("≤") else True


def _row_differences(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    if first.shape != second.shape:
        raise CheckError(
            f"the two trainings predicted different shapes: {first.shape} and {second.shape}"
        )
    if first.dtype.kind in "fiub" and second.dtype.kind in "fiub":
        diff = np.abs(first.astype(float) - second.astype(float))
        diff = np.where(np.isnan(first.astype(float)) & np.isnan(second.astype(float)), 0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)
    else:  # labels: differ or not
        diff = np.where(first == second, 0.0, np.inf)
    return diff.reshape(len(diff), -1).max(axis=1) if diff.size else np.zeros(len(diff))


def causes(runs: list[Run], seed: int) -> tuple[list[str], list[str]]:
    """(what the runs show could make training differ, what was fine but is a risk)."""
    states = runs[0].random_states
    unseeded = [k for k, v in states.items() if v is None]
    other = [f"{k}={v}" for k, v in states.items() if isinstance(v, int) and v != seed]
    seen = []
    if unseeded:
        seen.append(f"unseeded estimator: {', '.join(f'{k}=None' for k in unseeded)}")
    if other:
        seen.append(
            f"the training function does not pass [model] seed = {seed} on: {', '.join(other)}"
        )
    if runs[0].threads != runs[1].threads:
        changed = [
            f"{k}: {runs[0].threads.get(k)} vs {runs[1].threads.get(k)}"
            for k in sorted(set(runs[0].threads) | set(runs[1].threads))
            if runs[0].threads.get(k) != runs[1].threads.get(k)
        ]
        seen.append(f"thread counts differ between the processes ({'; '.join(changed)})")
    return seen, [s for s in seen if not s.startswith("thread")]


def bounded_sample(sample: int, inputs: int) -> tuple[int, str]:
    """The training rows each process uses: [reproducibility] sample, bounded to MAX_CELLS
    training cells on wide data; with why, when bounded."""
    rows = max(MIN_ROWS, MAX_CELLS // max(inputs, 1))
    if rows >= sample:
        return sample, ""
    return rows, (
        f"sampled to {rows:,} rows ({inputs:,} model inputs; at most {MAX_CELLS:,} training "
        f"cells per process, below [reproducibility] sample = {sample:,})"
    )


def compare(
    runs: list[Run],
    first: np.ndarray,
    second: np.ndarray,
    *,
    seed: int,
    max_prediction_difference: float,
    max_metric_difference: float,
) -> Reproduction:
    """The two runs and their predictions compared: differences, and their causes when they
    exceed the [reproducibility] limits (module docstring); latent risks when they do not."""
    difference = _row_differences(first, second)
    limit = max_prediction_difference
    metric_difference = abs(runs[0].metric - runs[1].metric)
    if np.isnan(metric_difference):
        metric_difference = 0.0 if np.isnan(runs[0].metric) and np.isnan(runs[1].metric) else np.inf
    found = Reproduction(
        runs=runs,
        seed=seed,
        max_difference=float(difference.max()) if difference.size else 0.0,
        differing_share=float(np.mean(difference > limit)) if difference.size else 0.0,
        metric_difference=float(metric_difference),
        bins=_bins(difference),
    )
    seen, risks = causes(runs, seed)
    identical = found.max_difference <= limit and found.metric_difference <= max_metric_difference
    if identical:
        found.risks = risks
    else:
        found.causes = seen or [
            "randomness outside the model's parameters: numpy.random or random without a seed, "
            "iteration over sets or dict keys built from them (string hashing is salted per "
            "process), or the order in which rows are read"
        ]
    return found
