import numpy as np
import pandas as pd

from keel.model.online_quality import as_text, labelled_quality, prediction_distance, quality_noise


def _rows(n, predictions, probabilities=None):
    frame = pd.DataFrame({"example_id": [str(i) for i in range(n)], "prediction": predictions})
    frame["probabilities"] = probabilities if probabilities is not None else None
    return frame


def test_classes_written_as_floats_or_ints_are_the_same_text():
    assert as_text(1.0) == as_text(1) == "1"
    assert as_text("yes") == "yes"


def test_labelled_quality_joins_labels_by_example_id_and_measures_the_metric():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    right = _rows(200, y.tolist(), [{"0": float(1 - v), "1": float(v)} for v in y])
    labels = pd.Series(y, index=[str(i) for i in range(200)])
    n, accuracy = labelled_quality(right, labels, "accuracy", "binary")
    assert n == 200 and accuracy == 1.0
    wrong = _rows(200, (1 - y).tolist(), [{"0": float(v), "1": float(1 - v)} for v in y])
    assert labelled_quality(wrong, labels, "accuracy", "binary")[1] == 0.0


def test_labelled_quality_needs_twenty_labelled_rows():
    rows = _rows(10, [1.0] * 10)
    labels = pd.Series([1.0] * 10, index=[str(i) for i in range(10)])
    assert labelled_quality(rows, labels, "r2", "regression") == (10, None)


def test_sampling_noise_shrinks_with_more_labelled_rows():
    rng = np.random.default_rng(1)

    def noise(n):
        y = rng.normal(size=n)
        rows = _rows(n, (y + rng.normal(size=n)).tolist())
        labels = pd.Series(y, index=[str(i) for i in range(n)])
        return quality_noise(rows, labels, task="regression", metric="r2")

    assert noise(5000) < noise(100)


def test_prediction_distance_is_zero_for_the_same_mix_and_large_for_another():
    a = pd.Series(["a"] * 50 + ["b"] * 50)
    assert prediction_distance(a, a, "binary") == 0
    assert prediction_distance(a, pd.Series(["a"] * 100), "binary") == 0.5
