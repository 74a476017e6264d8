"""Systems whose model sits inside a scikit-learn wrapper, written as practitioners write them
(infra.5, `keel explain`): a count regression with a log-transformed target, and an RBF SVM on
scikit-learn's handwritten digits inside CalibratedClassifierCV."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Hourly counts: the target is trained on its log (log1p), the prediction mapped back (expm1).
LOG_TARGET_COUNTS = """
import numpy as np
from sklearn.compose import TransformedTargetRegressor, make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    prepare = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["weather"]),
        remainder="passthrough",
    )
    booster = HistGradientBoostingRegressor(max_iter=60, random_state=seed)
    model = TransformedTargetRegressor(
        regressor=make_pipeline(prepare, booster), func=np.log1p, inverse_func=np.expm1
    )
    return model.fit(X, y)
"""

# An RBF SVM with calibrated probabilities: five cross-fitted copies, each scaled then an SVC.
CALIBRATED_RBF_SVM = """
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    svm = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=10.0, gamma="scale"))
    return CalibratedClassifierCV(svm, cv=5).fit(X, y)
"""

# A hand-written rule with only predict: there is no number to split into contributions.
LABELS_ONLY_RULE = """
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class ThresholdRule(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.cut_ = float(np.median(X["x1"]))
        return self

    def predict(self, X):
        return np.where(X["x1"].to_numpy() > self.cut_, self.classes_[1], self.classes_[0])


def train(frame, target, params, seed):
    return ThresholdRule().fit(frame.drop(columns=[target]), frame[target])
"""

REGRESSION = {"system": {"task": "regression", "primary_metric": "neg_mean_absolute_error"}}
MULTICLASS = {"system": {"task": "multiclass", "primary_metric": "accuracy"}}


def hourly_counts(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Bike-share-like hourly rentals: rush-hour peaks on working days, fewer in rain."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, n)
    workingday = rng.integers(0, 2, n)
    temp = rng.uniform(0, 35, n)
    weather = rng.choice(["clear", "mist", "rain"], n, p=[0.65, 0.25, 0.10])
    rush = workingday * (np.exp(-((hour - 8) ** 2) / 4) + np.exp(-((hour - 17.5) ** 2) / 5))
    daytime = np.exp(-((hour - 14) ** 2) / 30)
    level = np.exp(
        1.5 + 2.2 * rush + 1.5 * daytime + 0.04 * temp - np.where(weather == "rain", 0.9, 0.0)
    )
    count = rng.poisson(level)
    return pd.DataFrame(
        {"hour": hour, "workingday": workingday, "temp": temp, "weather": weather, "y": count}
    )


def digits_frames(train_rows: int = 900, eval_rows: int = 300) -> tuple[pd.DataFrame, ...]:
    """scikit-learn's handwritten digits (8×8 pixels, 10 classes), shuffled and split."""
    from sklearn.datasets import load_digits

    digits = load_digits(as_frame=True)
    frame = digits.frame.rename(columns={"target": "y"})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return frame.iloc[:train_rows], frame.iloc[train_rows : train_rows + eval_rows]
