"""What model functions take from a system: rows of a split, and the user's code as callables.

Model functions (`keel.model.*`) work on plain data, never on a `System`: frames of raw rows,
model inputs and targets, and the user's feature and training code as callables. `keel.system`
is the one adapter from keel.toml to them (`System.dataset`, `System.inputs`, `System.fit`,
`System.predict`); tests pass plain functions.

    Dataset      a split's raw rows, the model inputs built from them, and the target
    Build        raw rows -> model inputs (the feature function, or the raw non-role columns)
    Fit          (inputs, target, *, params=None, seed=None) -> a fitted estimator; params and
                 seed default to the configured ones
    PredictWith  (estimator, inputs) -> Predictions
    Predict      inputs -> Predictions: one estimator's predictions (a closure over it)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pandas as pd

from keel.model.metrics import Predictions

Split = Literal["train", "eval"]


@dataclass
class Dataset:
    """Rows of one split: the raw frame, the model inputs built from it, and the target."""

    raw: pd.DataFrame
    inputs: pd.DataFrame
    target: pd.Series


class Fit(Protocol):
    """The user's training function on model inputs: returns a fitted estimator."""

    def __call__(
        self,
        inputs: pd.DataFrame,
        target: pd.Series,
        *,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Any: ...


Build = Callable[[pd.DataFrame], pd.DataFrame]
PredictWith = Callable[[Any, pd.DataFrame], Predictions]
Predict = Callable[[pd.DataFrame], Predictions]
