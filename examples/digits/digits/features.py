"""Feature code of the digits model: raw scans (64 pixel counts 0-16) -> model inputs.

``build`` is the one entry point; Keel calls it on training, evaluation and serving data alike,
so it never needs the label and it tolerates what serving may send: missing pixels or pixel
columns, text, and values outside 0-16. A raw column it does not know (a new upstream signal)
passes through as a number, so a new input reaches the model without a code change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SIDE = 8
PIXELS = tuple(f"px_{r}_{c}" for r in range(SIDE) for c in range(SIDE))
MAX_COUNT = 16.0  # a pixel counts the inked cells of a 4x4 block
DROPPED = ("image_id", "digit")


def ink(values: pd.Series) -> pd.Series:
    """A pixel count as the inked share of its block, 0-1: missing, non-numbers and infinities
    read as blank (0), values outside 0-16 are clipped."""
    if not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values.astype(object), errors="coerce")
    numbers = values.astype("float64").replace([np.inf, -np.inf], np.nan).fillna(0.0)
    return (numbers / MAX_COUNT).clip(0.0, 1.0)


def as_number(values: pd.Series) -> pd.Series:
    """Float values of a column the feature code does not know; anything that is not a finite
    number reads as 0 (the support-vector machine takes no missing values)."""
    if not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values.astype(object), errors="coerce")
    return values.astype("float64").replace([np.inf, -np.inf], np.nan).fillna(0.0)


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The model inputs for ``raw``: same rows, same order, same index.

    Every pixel becomes its inked share (0-1, a missing pixel column reads as blank), and
    ``ink_total`` adds up the ink of the whole scan (a heavy "8" against a light "1"). The id and
    the label are dropped; any other column passes through as a number (``as_number``).
    """
    inputs = pd.DataFrame(index=raw.index)
    for name in PIXELS:
        if name in raw.columns:
            inputs[name] = ink(raw[name])
        else:
            inputs[name] = 0.0
    inputs["ink_total"] = inputs[list(PIXELS)].sum(axis=1)
    known = set(PIXELS) | set(DROPPED) | {"ink_total"}
    for name in raw.columns:
        if name not in known:
            inputs[name] = as_number(raw[name])
    return inputs
