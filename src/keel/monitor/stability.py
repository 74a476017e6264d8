"""monitor.5: numerical stability, as plain functions on what the windows and probes give.

`nonfinite_counts` adds up, over the windows of served traffic, the NaN and infinite values the
server listed per logged field (`model_inputs.x:nan`, `outputs.proba_1:inf`, …); `judged`
keeps those that are a problem: every output, every infinity in a model input, a NaN in a model
input the model never saw NaN in during training, and raw inputs whose schema does not allow
them. `output_problem` says what is wrong with a
model's output frame for probe rows: non-finite numbers, probabilities outside [0, 1] or not
summing to 1, a row count that does not match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["judged", "nonfinite_counts", "output_problem"]

SUM_TOLERANCE = 1e-6  # class probabilities of a row must sum to 1 within this


def nonfinite_counts(windows: Iterable[Any]) -> dict[str, int]:
    """NaN and infinite values per logged field, over every window (`PartSummary`s)."""
    counts: dict[str, int] = {}
    for window in windows:
        for name, count in window.nonfinite.items():
            counts[name] = counts.get(name, 0) + count
    return dict(sorted(counts.items()))


def judged(
    counts: dict[str, int],
    allowed: Callable[[str], bool],
    missing_ok: Callable[[str], bool] | None = None,
) -> dict[str, int]:
    """The counts that are a problem. A field is `<where>.<name>` with an optional `:nan` or
    `:inf` (as the server lists them): every output and every infinity in a model input is; a
    NaN in a model input is not when `missing_ok(name)` (the model was trained on NaN there: the
    feature code passes missing values on as NaN); a raw input `inputs.<name>` is unless
    `allowed(name)` (its schema allows NaN or infinity)."""
    bad = {}
    for field, count in counts.items():
        where, _, rest = field.partition(".")
        name, _, what = rest.partition(":")
        if not count:
            continue
        if where == "inputs" and allowed(name):
            continue
        if where == "model_inputs" and what == "nan" and missing_ok and missing_ok(name):
            continue
        bad[field] = count
    return bad


def output_problem(output: pd.DataFrame, rows: int, classes: list[Any] | None) -> str:
    """What is wrong with a model's output for `rows` probe rows ("" when nothing is)."""
    if len(output) != rows:
        return f"returned {len(output)} rows for {rows}"
    if classes is None:
        values = pd.to_numeric(output["prediction"], errors="coerce").to_numpy(dtype=float)
        bad = int((~np.isfinite(values)).sum())
        return f"{bad} of {rows} predictions are NaN or infinite" if bad else ""
    columns = [f"proba_{c}" for c in classes]
    missing = [c for c in columns if c not in output.columns]
    if missing:
        return f"no probability columns {', '.join(missing)}"
    proba = output[columns].to_numpy(dtype=float)
    if not np.isfinite(proba).all():
        bad = int((~np.isfinite(proba)).any(axis=1).sum())
        return f"{bad} of {rows} rows have NaN or infinite probabilities"
    if ((proba < 0) | (proba > 1)).any():
        return f"probabilities outside [0, 1] (from {proba.min():.4g} to {proba.max():.4g})"
    sums = proba.sum(axis=1)
    off = np.abs(sums - 1) > SUM_TOLERANCE
    if off.any():
        return f"{int(off.sum())} of {rows} rows' probabilities do not sum to 1"
    return ""
