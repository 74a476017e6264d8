"""Small real systems on data that ships with scikit-learn (no download): the handwritten
digits (10 classes) and the diabetes progression (a regression)."""

from __future__ import annotations

import pandas as pd

# A practitioner's SVM on the 64 pixels, with C and gamma from [model] params.
SVC_TRAIN = """
from sklearn.svm import SVC


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    return SVC(**params).fit(X, y)
"""


def digits_frames(*, eval_rows: int = 360, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, eval) of scikit-learn's 8×8 digits, stratified; the target column is `y`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    frame = load_digits(as_frame=True).frame.rename(columns={"target": "y"})
    train, evaluation = train_test_split(
        frame, test_size=eval_rows, random_state=seed, stratify=frame["y"]
    )
    return train.reset_index(drop=True), evaluation.reset_index(drop=True)


def digits_sections(**params: float) -> dict[str, dict[str, object]]:
    """keel.toml sections of the digits system: a multiclass task on `y` with these params."""
    return {
        "system": {"name": "digits", "task": "multiclass", "target": "y"},
        "model": {"params": dict(params)},
    }
