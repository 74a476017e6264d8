"""Systems whose inputs stand in for each other (data.2, data.3): judged one by one, each
looks useless; dropped together, the model loses what they carry."""

from __future__ import annotations

import numpy as np
import pandas as pd

# A practitioner's digits classifier: scaled pixels into an RBF support vector machine.
SVC_TRAIN = """
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def train(frame, target, params, seed):
    X, y = frame.drop(columns=[target]), frame[target]
    return make_pipeline(StandardScaler(), SVC(random_state=seed, **params)).fit(X, y)
"""
SVC_PARAMS = {"C": 10.0, "gamma": 0.02}


def digits_frames(
    train_rows: int = 1400, eval_rows: int = 397
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scikit-learn's handwritten digits (8×8 pixels, 10 classes), split at random, target y."""
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame.rename(columns={"target": "y"})
    order = np.random.default_rng(0).permutation(len(frame))
    train = frame.iloc[order[:train_rows]].reset_index(drop=True)
    evaluation = frame.iloc[order[train_rows : train_rows + eval_rows]].reset_index(drop=True)
    return train, evaluation


def copies_frame(n: int, *, seed: int, copies: int = 6, noise: int = 3) -> pd.DataFrame:
    """A binary label driven by one signal the inputs hold only as `copies` noisy copies
    (copy_0 …), and `noise` inputs unrelated to anything (noise_0 …)."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    frame = pd.DataFrame({f"copy_{i}": signal + 0.05 * rng.normal(size=n) for i in range(copies)})
    for i in range(noise):
        frame[f"noise_{i}"] = rng.normal(size=n)
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-3 * signal))).astype(int)
    return frame
