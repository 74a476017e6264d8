"""Training code of the credit-default model.

``train(frame, target, params, seed)`` is the entry point named in keel.toml. ``frame`` holds the
model inputs (the output of ``credit.features.build``) and the label column ``target``. Columns
are sorted into numeric and categorical by their dtype when the model is fitted, so the same code
trains on whatever inputs it is given, a newly added feature included.

With scikit-learn's defaults the booster stops early on more than 10,000 rows: it holds out 10% of
the training rows (chosen by ``seed``) and stops when their loss no longer improves, so
``max_iter`` is an upper bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

UNKNOWN = -1  # code for missing and unseen categories; the booster treats negatives as missing
MAX_BINS = 255  # HistGradientBoosting's largest number of bins (and so of categories)


def is_numeric(values: pd.Series) -> bool:
    """Numbers and booleans go to the booster as they are; everything else is a category."""
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def split_columns(inputs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(categorical, numeric) column names, in the order of ``inputs``."""
    numeric = [str(c) for c in inputs.columns if is_numeric(inputs[c])]
    categorical = [str(c) for c in inputs.columns if str(c) not in numeric]
    return categorical, numeric


def as_labels(inputs: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as text (object dtype), with NaN where a value is missing."""
    return inputs.astype("string").astype(object).where(inputs.notna(), np.nan)


def preprocessor(categorical: list[str], numeric: list[str], max_bins: int) -> ColumnTransformer:
    """Ordinal codes for the categorical columns (past ``max_bins`` categories the rarest are
    pooled); numeric columns pass through, missing values included (the booster handles them)."""
    encode = Pipeline(
        [
            ("labels", FunctionTransformer(as_labels, feature_names_out="one-to-one")),
            (
                "ordinal",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=UNKNOWN,
                    encoded_missing_value=UNKNOWN,
                    max_categories=max_bins,
                ),
            ),
        ]
    )
    return ColumnTransformer(
        [("categorical", encode, categorical), ("numeric", "passthrough", numeric)],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def train(frame: pd.DataFrame, target: str, params: dict[str, Any], seed: int) -> Pipeline:
    """Fit the model on the labelled rows of ``frame``; returns a fitted scikit-learn Pipeline."""
    labelled = frame[frame[target].notna()]
    inputs = labelled.drop(columns=[target])
    inputs.columns = [str(c) for c in inputs.columns]
    categorical, numeric = split_columns(inputs)
    settings = {"random_state": seed, "categorical_features": categorical or None, **params}
    max_bins = int(settings.get("max_bins", MAX_BINS))
    model = Pipeline(
        [
            ("prepare", preprocessor(categorical, numeric, max_bins)),
            ("booster", HistGradientBoostingClassifier(**settings)),
        ]
    )
    model.set_output(transform="pandas")
    return model.fit(inputs, labelled[target])
