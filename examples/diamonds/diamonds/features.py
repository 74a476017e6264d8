"""Feature code of the diamond-price model: a diamond's listing -> model inputs.

``build`` is the one entry point; Keel calls it on training, evaluation and serving data alike,
so it never needs the price and it tolerates what serving may send: missing values and columns,
text in number columns, grades it does not know. A raw column it does not know (a new upstream
signal) passes through as a number, so a new input reaches the model without a code change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The grading scales, worst first: a grade becomes its rank (0 = worst), so the model can use
# the order. Unknown grades become missing.
GRADES = {
    "cut": ("Fair", "Good", "Very Good", "Premium", "Ideal"),
    "color": ("J", "I", "H", "G", "F", "E", "D"),  # D is colourless, the best
    "clarity": ("I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"),
}
NUMERIC = ("carat", "depth", "table")
DIMENSIONS = ("x", "y", "z")  # length, width and depth in mm; 0 means not measured
DROPPED = ("diamond_id", "price")  # the id and the label: never inputs


def as_number(values: pd.Series) -> pd.Series:
    """Float values; anything that is not a finite number becomes missing (NaN)."""
    if not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values.astype(object), errors="coerce")
    numbers = values.astype("float64")
    return numbers.where(~np.isinf(numbers))


def grade_rank(values: pd.Series, scale: tuple[str, ...]) -> pd.Series:
    """The rank of each grade on ``scale`` (0 = worst) as a float; unknown or missing: NaN."""
    ranks = {grade.lower(): float(rank) for rank, grade in enumerate(scale)}
    text = values.astype("string").str.strip().str.lower()
    return text.map(ranks).astype("float64")


def column(raw: pd.DataFrame, name: str) -> pd.Series:
    """``raw[name]``, or an all-missing column when ``raw`` lacks it."""
    if name in raw.columns:
        return raw[name]
    return pd.Series(float("nan"), index=raw.index, dtype="float64")


def build(raw: pd.DataFrame) -> pd.DataFrame:
    """The model inputs for ``raw``: same rows, same order, same index.

    ``carat``, ``depth`` and ``table`` as floats; ``cut``, ``color`` and ``clarity`` as their
    rank on the grading scale; the dimensions ``x``, ``y``, ``z`` in mm (a 0, "not measured",
    becomes missing) and ``volume``, their product. The id and the price are not inputs; any
    other column passes through as a number.
    """
    inputs = pd.DataFrame(index=raw.index)
    for name in NUMERIC:
        inputs[name] = as_number(column(raw, name))
    for name, scale in GRADES.items():
        inputs[name] = grade_rank(column(raw, name), scale)
    for name in DIMENSIONS:
        size = as_number(column(raw, name))
        inputs[name] = size.where(size > 0)
    inputs["volume"] = inputs["x"] * inputs["y"] * inputs["z"]
    known = set(NUMERIC) | set(GRADES) | set(DIMENSIONS) | set(DROPPED) | {"volume"}
    for name in raw.columns:
        if name not in known:
            inputs[name] = as_number(raw[name])
    return inputs
