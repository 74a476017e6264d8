"""Training code of the diamond-price model.

``train(frame, target, params, seed)`` is the entry point named in keel.toml. ``frame`` holds
the model inputs (the output of ``diamonds.features.build``) and the label column ``target``,
the price in USD. Prices span two orders of magnitude and their errors grow with the price, so
the booster learns the logarithm of the price and predicts its exponential
(``TransformedTargetRegressor``). ``params`` go to the ``HistGradientBoostingRegressor``; it
handles missing inputs itself.

With scikit-learn's defaults the booster stops early on more than 10,000 rows: it holds out 10%
of the training rows (chosen by ``seed``) and stops when their loss no longer improves, so
``max_iter`` is an upper bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor


def train(
    frame: pd.DataFrame, target: str, params: dict[str, Any], seed: int
) -> TransformedTargetRegressor:
    """Fit the model on the rows of ``frame`` with a positive price; returns the fitted model."""
    prices = pd.to_numeric(frame[target], errors="coerce")
    labelled = frame[prices > 0]
    inputs = labelled.drop(columns=[target]).astype("float64")
    inputs.columns = [str(c) for c in inputs.columns]
    booster = HistGradientBoostingRegressor(**{"random_state": seed, **params})
    model = TransformedTargetRegressor(
        regressor=booster, func=np.log, inverse_func=np.exp, check_inverse=False
    )
    return model.fit(inputs, prices[prices > 0].astype("float64"))
