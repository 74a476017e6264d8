"""Training code of the digits model.

``train(frame, target, params, seed)`` is the entry point named in keel.toml. ``frame`` holds
the model inputs (the output of ``digits.features.build``) and the label column ``target``. The
model is a support-vector classifier with an RBF kernel on standardised inputs; ``params``
(``C`` and ``gamma`` in keel.toml) go to the SVC. Its probabilities come from a sigmoid (Platt)
calibration fitted on 5-fold cross-validated decision values (``CalibratedClassifierCV`` with
``ensemble=False``, scikit-learn's replacement for ``SVC(probability=True)``): one SVC fitted on
all rows makes the decisions. ``seed`` goes to the SVC's ``random_state``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

FOLDS = 5  # cross-validation folds of the probability calibration


def train(frame: pd.DataFrame, target: str, params: dict[str, Any], seed: int) -> Pipeline:
    """Fit the model on the labelled rows of ``frame``; returns a fitted scikit-learn Pipeline."""
    labelled = frame[frame[target].notna()]
    inputs = labelled.drop(columns=[target])
    inputs.columns = [str(c) for c in inputs.columns]
    svm = SVC(**{"kernel": "rbf", "random_state": seed, **params})
    calibrated = CalibratedClassifierCV(svm, method="sigmoid", cv=FOLDS, ensemble=False)
    model = Pipeline([("scale", StandardScaler()), ("svm", calibrated)])
    return model.fit(inputs, labelled[target].astype("int64"))
