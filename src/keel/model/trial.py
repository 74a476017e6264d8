"""data.6's experiment: one input declared in keel.toml alone, added and trained with.

The input is a DuckDB SQL expression over the raw columns, evaluated on the raw training and
evaluation rows and appended to the model inputs after the feature function; the user's own
training function then trains with it. No code of the user's changes: if the pipeline needs a
code change to take a new input, this is where it shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from keel.errors import CheckError
from keel.model.importance import sample_rows
from keel.system import System

NEW_FEATURE_ROWS = 20_000  # data.6 trains on at most this many training rows


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


def add_input(system: System) -> Trial:
    cfg = system.config.new_feature
    seed = system.config.model.seed
    train, evaluation = system.dataset("train"), system.dataset("eval")
    rows = sample_rows(len(train.inputs), NEW_FEATURE_ROWS, seed=seed)
    eval_rows = sample_rows(len(evaluation.inputs), NEW_FEATURE_ROWS, seed=seed)
    trial = Trial("name", train_rows=len(rows), eval_rows=len(eval_rows))
    if cfg.name in train.inputs.columns:
        trial.error = f"the model already has an input named {cfg.name}"
        return trial
    start = time.perf_counter()
    frames = {}
    trial.stage = "expression"
    for split, data, at in (("train", train, rows), ("eval", evaluation, eval_rows)):
        inputs = data.inputs.iloc[at].copy()
        try:
            inputs[cfg.name] = evaluate_expression(data.raw.iloc[at], cfg.expression, seed=seed)
        except Exception as exc:
            trial.error = f"on the {split} rows: {type(exc).__name__}: {exc}"
            return trial
        frames[split] = inputs
    trial.dtype = str(frames["train"][cfg.name].dtype)
    trial.stage = "training"
    try:
        estimator = system.fit(frames["train"], train.target.iloc[rows])
    except CheckError as exc:
        trial.error = str(exc)
        return trial
    trial.stage = "prediction"
    try:
        predictions = system.predict(estimator, frames["eval"])
    except Exception as exc:
        trial.error = f"predicting with the new input raised {type(exc).__name__}: {exc}"
        return trial
    y_eval = evaluation.target.iloc[eval_rows]
    trial.metric_with = system.evaluate(y_eval, predictions)
    trial.seconds = time.perf_counter() - start
    trial.reached, trial.note = reaches_model(estimator, cfg.name)
    trial.stage = "done" if trial.reached is not False else "model inputs"
    if len(rows) == len(train.inputs) and len(eval_rows) == len(evaluation.inputs):
        trial.metric_without = system.trained.metric
    else:
        without = system.fit(train.inputs.iloc[rows], train.target.iloc[rows])
        x_eval = evaluation.inputs.iloc[eval_rows]
        trial.metric_without = system.evaluate(y_eval, system.predict(without, x_eval))
    return trial
