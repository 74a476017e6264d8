"""Keel's ready-made training function on the data a newcomer brings."""

import numpy as np
import pandas as pd

from keel.trainers import MAX_CATEGORIES, gradient_boosting


def test_gradient_boosting_trains_with_a_text_input_of_thousands_of_values():
    # numbers read as text (a CSV column with blanks in it) give thousands of categories
    rng = np.random.default_rng(0)
    n = 3000
    amount = rng.uniform(20, 8000, n).round(2)
    frame = pd.DataFrame(
        {
            "total": [f"{a:.2f}" if i % 400 else " " for i, a in enumerate(amount)],
            "tenure": rng.integers(0, 72, n),
            "y": (rng.random(n) < 1 / (1 + np.exp(-(amount / 4000 - 1)))).astype(int),
        }
    )
    assert frame["total"].nunique() > 10 * MAX_CATEGORIES
    model = gradient_boosting(frame, "y", {"max_iter": 20}, 0)
    proba = model.predict_proba(frame.drop(columns=["y"]))
    assert proba.shape == (n, 2) and np.isfinite(proba).all()


def test_gradient_boosting_regresses_on_a_float_target():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=500), "group": rng.choice(["a", "b"], 500)})
    frame["y"] = 2 * frame["x"] + (frame["group"] == "a")
    model = gradient_boosting(frame, "y", {"max_iter": 30}, 0)
    assert not hasattr(model, "predict_proba") or "Regressor" in type(model[-1]).__name__
    assert np.corrcoef(model.predict(frame.drop(columns=["y"])), frame["y"])[0, 1] > 0.9
