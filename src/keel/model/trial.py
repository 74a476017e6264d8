"""data.6's experiment: one input declared in keel.toml alone, added and trained with.

The new input is a column added to the raw training and evaluation rows, as a new upstream
column would arrive: by default a noisy copy of the target (an input any model that receives
it will use: the factorised label plus Gaussian noise, or the standardised target plus noise
for regression), or the `[new_feature] expression`, a DuckDB SQL expression over the raw
columns. The user's feature function (when there is one) then builds the model inputs from
those rows, and the user's own training function trains with them. No code of the user's
changes: if the pipeline needs a code change to take a new input, this is where it shows.

That the input reached the model is proved, not assumed: the evaluation rows are predicted
again with the new raw column shuffled (seeded), and at least one prediction must change.
A feature function that returns no new column (it selects a fixed list of columns), or a
model whose predictions do not move when the input is shuffled, fails the trial.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import CheckError
from keel.model.contract import Build, Dataset, Fit, PredictWith
from keel.model.importance import sample_rows
from keel.model.metrics import compute

NEW_FEATURE_ROWS = 20_000  # data.6 trains on at most this many training rows
NEW_FEATURE_CELLS = 5_000_000  # and on at most this many values (rows × inputs) on wide data
WIDE_INPUTS = 500  # from this many inputs, the metric without the new input is not retrained
SIGNAL_NOISE = 0.5  # standard deviation of the noise on the default trial input


@dataclass
class Trial:
    """Adding the configured input and training with it: what happened, and how long it took."""

    stage: str  # "done", or where it failed: "name", "expression", "training", "prediction", …
    error: str = ""
    seconds: float = 0.0
    train_rows: int = 0
    eval_rows: int = 0
    dtype: str = ""
    metric_with: float | None = None
    metric_without: float | None = None
    reached: bool | None = None
    note: str = ""
    source: str = ""  # what the new raw column holds
    added: list[str] = field(default_factory=list)  # model inputs the feature code built from it
    changed: int | None = None  # evaluation predictions that move when the input is shuffled


def evaluate_expression(raw: pd.DataFrame, expression: str, *, seed: int = 0) -> pd.Series:
    """The DuckDB SQL `expression` over the columns of `raw`, one value per row, in order.

    Runs on one thread with `setseed`, so `random()` gives the same values every time.
    Raises `duckdb.Error` when DuckDB rejects the expression, ValueError when it does not give
    one value per row.
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        con.execute("SELECT setseed(?)", [(seed % 1000) / 1000]).fetchall()
        con.register("raw", raw)
        values = con.execute(f"SELECT ({expression}) AS value FROM raw").df()["value"]
    finally:
        con.close()
    if len(values) != len(raw):
        raise ValueError(f"gave {len(values)} values for {len(raw)} rows; expected one per row")
    return values.set_axis(raw.index)


def reaches_model(estimator: Any, name: str) -> tuple[bool | None, str]:
    """Whether an input named `name` reached the estimator (None when it cannot be told).

    Reads `feature_names_in_`; for a scikit-learn Pipeline also the names its preprocessing
    passes to the final step (`get_feature_names_out`).
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return None, (
            f"{type(estimator).__name__} does not expose feature_names_in_; that the new input "
            "reached the model could not be confirmed"
        )
    if name not in [str(n) for n in names]:
        return False, f"the estimator was fitted without {name} (not in its feature_names_in_)"
    steps = getattr(estimator, "steps", None)
    if steps and len(steps) > 1:
        final = type(steps[-1][1]).__name__
        try:
            passed = [str(n) for n in estimator[:-1].get_feature_names_out()]
        except Exception:
            return True, f"received by the pipeline; what reaches its {final} could not be read"
        if not any(n == name or n.endswith(f"__{name}") for n in passed):
            return (
                False,
                f"the pipeline receives {name} but its preprocessing drops it before {final}",
            )
        return True, f"reaches the pipeline's {final}"
    return True, "in the estimator's feature_names_in_"


def signal(target: pd.Series, task: str, *, seed: int) -> pd.Series:
    """The default trial input: a noisy copy of the target, which a model that receives it
    uses (classes as their sorted codes, a regression target standardised; noise of standard
    deviation `SIGNAL_NOISE`, seeded)."""
    rng = np.random.default_rng(seed)
    if task == "regression":
        values = target.to_numpy(dtype="float64")
        spread = float(np.nanstd(values)) or 1.0
        base = (values - float(np.nanmean(values))) / spread
    else:
        base = pd.factorize(target, sort=True)[0].astype("float64")
    return pd.Series(base + rng.normal(0, SIGNAL_NOISE, len(target)), index=target.index)


def trial_rows(n: int, inputs: int) -> int:
    """Training rows of the trial: at most `NEW_FEATURE_ROWS`, and `NEW_FEATURE_CELLS` values."""
    return min(n, max(1_000, min(NEW_FEATURE_ROWS, NEW_FEATURE_CELLS // max(inputs, 1))))


def _new_column(
    raw: pd.DataFrame,
    expression: str | None,
    *,
    target: str,
    task: str,
    seed: int,
    split_seed: int,
) -> pd.Series:
    if expression is not None:
        return evaluate_expression(raw, expression, seed=seed)
    return signal(raw[target], task, seed=split_seed)


def describe_source(expression: str | None, target: str) -> str:
    """What the trial input holds, in words."""
    if expression is not None:
        return f"[new_feature] expression = {expression}"
    return (
        f"a noisy copy of the target {target} (Keel's default trial input: a model that "
        "receives it uses it)"
    )


def _changed(a: Any, b: Any) -> int:
    """How many rows' predictions differ between two `Predictions`."""
    left = a.proba if a.proba is not None else a.labels
    right = b.proba if b.proba is not None else b.labels
    left, right = np.asarray(left), np.asarray(right)
    if left.dtype.kind in "fc":
        differ = ~np.isclose(left, right, rtol=1e-9, atol=1e-12, equal_nan=True)
    else:
        differ = left != right
    return int(differ.reshape(len(differ), -1).any(axis=1).sum())


def add_input(
    train: Dataset,
    evaluation: Dataset,
    *,
    build: Build,
    fit: Fit,
    predict: PredictWith,
    name: str,
    expression: str | None,
    metric: str,
    target: str,
    task: str,
    seed: int,
    trained_metric: float,
) -> Trial:
    """Add the trial input `name` to the raw rows, build inputs, train, and prove the model
    uses it.

    The input holds the DuckDB SQL `expression` over the raw columns, or, without one, a noisy
    copy of the `target` column. `trained_metric` is the model's metric on all of `evaluation`
    (the metric without the input when the trial trains on every row).
    """
    size = trial_rows(len(train.inputs), train.inputs.shape[1])
    rows = sample_rows(len(train.inputs), size, seed=seed)
    eval_rows = sample_rows(len(evaluation.inputs), size, seed=seed)
    trial = Trial("name", train_rows=len(rows), eval_rows=len(eval_rows))
    trial.source = describe_source(expression, target)
    if name in train.inputs.columns or name in train.raw.columns:
        trial.error = f"the data or the model already has a column named {name}"
        return trial
    start = time.perf_counter()
    raws, frames = {}, {}
    for i, (split, data, at) in enumerate(
        (("train", train, rows), ("eval", evaluation, eval_rows))
    ):
        raw = data.raw.iloc[at].copy()
        trial.stage = "expression"
        try:
            raw[name] = _new_column(
                raw, expression, target=target, task=task, seed=seed, split_seed=seed + i
            )
        except Exception as exc:
            trial.error = f"on the {split} rows: {type(exc).__name__}: {exc}"
            return trial
        trial.stage = "features"
        try:
            frames[split] = build(raw)
        except CheckError as exc:
            trial.error = str(exc)
            return trial
        raws[split] = raw
    trial.dtype = str(raws["train"][name].dtype)
    trial.added = [str(c) for c in frames["train"].columns if c not in train.inputs.columns]
    if not trial.added:
        trial.stage = "feature code"
        trial.error = (
            f"the feature function returned the same {train.inputs.shape[1]} columns with the "
            f"new raw column {name} as without it"
        )
        return trial
    trial.stage = "training"
    try:
        estimator = fit(frames["train"], train.target.iloc[rows])
    except CheckError as exc:
        trial.error = str(exc)
        return trial
    trial.stage = "prediction"
    try:
        predictions = predict(estimator, frames["eval"])
        shuffled = raws["eval"].copy()
        order = np.random.default_rng(seed).permutation(len(shuffled))
        shuffled[name] = shuffled[name].to_numpy()[order]
        moved = predict(estimator, build(shuffled))
    except Exception as exc:
        trial.error = f"predicting with the new input raised {type(exc).__name__}: {exc}"
        return trial
    y_eval = np.asarray(evaluation.target.iloc[eval_rows])
    trial.metric_with = compute(metric, y_eval, predictions)
    trial.seconds = time.perf_counter() - start
    trial.changed = _changed(predictions, moved)
    trial.reached, trial.note = reaches_model(estimator, trial.added[0])
    if trial.changed == 0:
        trial.reached = False
        trial.stage = "model inputs"
        return trial
    trial.reached = True
    trial.stage = "done"
    if len(rows) == len(train.inputs) and len(eval_rows) == len(evaluation.inputs):
        trial.metric_without = trained_metric
    elif train.inputs.shape[1] >= WIDE_INPUTS:
        trial.note += "; the metric without the new input is not retrained on a wide model"
    else:
        without = fit(train.inputs.iloc[rows], train.target.iloc[rows])
        x_eval = evaluation.inputs.iloc[eval_rows]
        trial.metric_without = compute(metric, y_eval, predict(without, x_eval))
    return trial
