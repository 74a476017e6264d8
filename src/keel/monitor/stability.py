"""monitor.5: numerical stability, as plain functions on what the windows and probes give.

`nonfinite_counts` adds up, over the windows of served traffic, the NaN and infinite values the
server listed per logged field (`inputs.x`, `model_inputs.x`, `outputs.prediction`,
`outputs.proba_1`); `judged` keeps those that are a problem: every model input and output, and
the raw inputs whose schema does not allow them. `output_problem` says what is wrong with a
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


def judged(counts: dict[str, int], allowed: Callable[[str], bool]) -> dict[str, int]:
    """The counts that are a problem: any model input or output field, and a raw input field
    `inputs.<name>` unless `allowed(name)` (its schema allows NaN or infinity)."""
    bad = {}
    for field, count in counts.items():
        kind, _, name = field.partition(".")
        if count and not (kind == "inputs" and allowed(name)):
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
