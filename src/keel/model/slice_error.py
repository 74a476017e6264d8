"""How a regression slice is judged (model.6): its error on the target's scale against the
whole's, not its R².

R² compares the model's error with the slice's own variance, so a slice whose target varies
little (light rain: few riders, all hours alike) has a low R² even where the model's errors are
smaller than anywhere else. A slice is served worse only when its errors are larger: the mean
absolute error (MAE) of the slice divided by the MAE over every evaluation row, or the root mean
squared error (RMSE) when the primary metric is a squared error. The slice fails when that ratio
is above [slices] max_error_ratio; R² (the primary metric) is shown beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

ErrorKind = Literal["MAE", "RMSE"]
SQUARED = ("neg_mean_squared_error", "neg_root_mean_squared_error")


def error_kind(metric: str) -> ErrorKind:
    """The error a regression slice is judged on: RMSE for a squared-error primary metric,
    MAE otherwise (R², MAE)."""
    return "RMSE" if metric in SQUARED else "MAE"


def error_of(kind: ErrorKind, y_true: np.ndarray, values: np.ndarray) -> float:
    """The MAE or RMSE of predicted `values` against `y_true` (NaN on no rows)."""
    y = np.asarray(y_true, dtype=float)
    if len(y) == 0:
        return float("nan")
    diff = np.asarray(values, dtype=float) - y
    if kind == "RMSE":
        return float(np.sqrt(np.mean(diff**2)))
    return float(np.mean(np.abs(diff)))


@dataclass(frozen=True)
class ErrorRule:
    """A regression slice's judgement: its `kind` of error at most `max_ratio` × the whole's
    (`overall`, over every evaluation row)."""

    kind: ErrorKind
    overall: float
    max_ratio: float

    def ratio(self, error: float) -> float:
        """A slice's error relative to the whole's (1: as large; 0/0 counts as 1)."""
        if self.overall > 0:
            return error / self.overall
        return 1.0 if error == 0 else math.inf

    def fails(self, error: float) -> bool:
        """Whether a slice with this error is served worse than the rule allows."""
        return self.ratio(error) > self.max_ratio + 1e-12

    def lower_bound(
        self, y: np.ndarray, values: np.ndarray, *, resamples: int, seed: int = 0
    ) -> float:
        """The 5th percentile of the slice's error over bootstrap resamples of its rows: a
        searched slice fails only when even this is too large."""
        rng = np.random.default_rng(seed)
        y, values = np.asarray(y, dtype=float), np.asarray(values, dtype=float)
        errors = [
            error_of(self.kind, y[pick], values[pick])
            for pick in (rng.integers(0, len(y), len(y)) for _ in range(resamples))
        ]
        return float(np.quantile(errors, 0.05))
