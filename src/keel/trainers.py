"""Ready-made training functions that follow Keel's training contract.

`keel init` points a new keel.toml at `keel.trainers:gradient_boosting`, so a project without
training code of its own can be scored at once; replace it with your own
`train(frame, target, params, seed) -> estimator` when you have one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder

CATEGORICAL = ["object", "category", "string", "bool"]
MAX_CATEGORIES = 250


def gradient_boosting(
    frame: pd.DataFrame, target: str, params: dict[str, Any], seed: int
) -> Pipeline:
    """Histogram gradient boosting on every input, with categoricals ordinal-encoded.

    A text input with many distinct values (an id, or numbers read as text) keeps its
    `MAX_CATEGORIES` most frequent values; the rest share one category.

    A classifier when the target holds labels (strings, booleans or few integers), otherwise a
    regressor. `params` go to the scikit-learn estimator unchanged.
    """
    X, y = frame.drop(columns=[target]), frame[target]
    categorical = make_column_selector(dtype_include=CATEGORICAL)
    encode = make_column_transformer(
        (
            # the booster takes at most 255 categories per input: rarer ones are grouped
            OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=-1,
                encoded_missing_value=-1,
                max_categories=MAX_CATEGORIES,
            ),
            categorical,
        ),
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    n_cat = len(categorical(X))
    if pd.api.types.is_float_dtype(y):
        is_label = y.nunique() <= 2
    else:
        is_label = not pd.api.types.is_integer_dtype(y) or y.nunique() <= 20
    estimator_cls = HistGradientBoostingClassifier if is_label else HistGradientBoostingRegressor
    estimator = estimator_cls(
        random_state=seed, categorical_features=list(range(n_cat)) or None, **params
    )
    return make_pipeline(encode, estimator).fit(X, y)
