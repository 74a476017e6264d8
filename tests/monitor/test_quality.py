"""`keel.monitor.quality`: quality with labels, CBPE without them, and the per-window verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from keel.log.read import served_rows
from keel.log.writer import PredictionLog, segments_dir
from keel.monitor.quality import (
    Reference,
    assess,
    calibration,
    estimate_drop,
    expected_metric,
    spearman,
    windowed,
)

DAY = 86_400.0


def calibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class probabilities and labels drawn from them (calibrated by construction)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 0.7, size=n)
    return p, (rng.random(n) < p).astype(int)


def as_matrix(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p, p])


def test_cbpe_expects_what_calibrated_probabilities_then_score():
    p, y = calibrated(40_000)
    proba = as_matrix(p)
    predicted = (p > 0.5).astype(int)
    assert expected_metric("roc_auc", proba) == pytest.approx(roc_auc_score(y, p), abs=0.01)
    assert expected_metric("accuracy", proba) == pytest.approx(
        accuracy_score(y, predicted), abs=0.01
    )
    assert expected_metric("f1", proba) == pytest.approx(f1_score(y, predicted), abs=0.01)
    assert expected_metric("neg_log_loss", proba) == pytest.approx(-log_loss(y, p), abs=0.02)
    rng = np.random.default_rng(3)
    multi = rng.dirichlet([0.5, 0.5, 0.5], size=30_000)
    truth = np.array([rng.choice(3, p=row) for row in multi])
    assert expected_metric("roc_auc", multi) == pytest.approx(
        roc_auc_score(truth, multi, multi_class="ovr"), abs=0.01
    )
    assert expected_metric("accuracy", multi) == pytest.approx(
        accuracy_score(truth, multi.argmax(axis=1)), abs=0.01
    )


def test_calibration_is_measured_and_overconfidence_is_called_poor():
    p, y = calibrated(10_000, seed=1)
    good = calibration("roc_auc", as_matrix(p), ["0", "1"], y)
    assert not good.poor and abs(good.estimated - good.actual) < 0.02
    sharp = np.clip(0.5 + 2.5 * (p - 0.5), 0.001, 0.999)  # same ranking, overconfident
    bad = calibration("roc_auc", as_matrix(sharp), ["0", "1"], y)
    assert bad.poor and bad.ece > 0.05
    assert bad.estimated > bad.actual + 0.02  # overconfidence: CBPE promises too much


def records(p: np.ndarray, day: int, version: int = 1, start: int = 0) -> list[dict]:
    return [
        {
            "request_id": f"r{start + i}",
            "row": 0,
            "example_id": f"e{start + i}",
            "time": f"2026-11-{day:02d}T{(i % 24):02d}:00:00+00:00",
            "model_version": version,
            "route": "champion",
            "inputs": {"x1": float(v)},
            "model_inputs": {"x1": float(v)},
            "prediction": int(v > 0.5),
            "probabilities": {"0": float(1 - v), "1": float(v)},
            "latency_seconds": 0.001,
        }
        for i, v in enumerate(p)
    ]


def served(tmp_path, *batches: list[dict]) -> pd.DataFrame:
    with PredictionLog(segments_dir(tmp_path / "log"), segment_bytes=200_000) as log:
        for batch in batches:
            log.append(batch)
    return windowed(served_rows(tmp_path / "log"), DAY)


def judge(rows, labels=None, offline=None, references=None):
    return assess(
        rows,
        task="binary",
        metric="roc_auc",
        window_seconds=DAY,
        labels=labels,
        offline=offline or {},
        references=references or {},
        tolerance=0.02,
        min_labels=200,
        min_rows=100,
        max_distance=0.1,
    )


@pytest.mark.parametrize("flipped", [0.0, 0.3])
def test_with_labels_a_window_below_the_offline_metric_fails(tmp_path, flipped):
    p1, y1 = calibrated(1_000, seed=1)
    p2, y2 = calibrated(1_000, seed=2)
    flip = np.random.default_rng(5).random(1_000) < flipped
    y2 = np.where(flip, 1 - y2, y2)
    rows = served(tmp_path, records(p1, 1), records(p2, 2, start=1_000))
    labels = pd.Series(np.r_[y1, y2], index=[f"e{i}" for i in range(2_000)])
    offline = roc_auc_score(y1, p1)
    judged = judge(rows, labels, {1: offline})
    assert [w.mode for w in judged] == ["labels", "labels"] and judged[0].verdict == "ok"
    assert judged[1].labelled == 1_000 and judged[1].offline == offline
    assert judged[1].verdict == ("fail" if flipped else "ok")
    if flipped:
        assert "online against" in judged[1].reasons[0]


@pytest.mark.parametrize("uncertain", [False, True])
def test_without_labels_confident_predictions_turning_uncertain_fail(tmp_path, uncertain):
    p_eval, _ = calibrated(2_000, seed=0)
    p_now, _ = calibrated(1_000, seed=4)
    if uncertain:  # the same classes predicted, with far less confidence
        p_now = 0.5 + 0.15 * (p_now - 0.5)
    rows = served(tmp_path, records(p_now, 2))
    ref = Reference(
        "the evaluation data",
        pd.Series((p_eval > 0.5).astype(int)).astype(str),
        as_matrix(p_eval),
        ["0", "1"],
    )
    (window,) = judge(rows, references={1: ref})
    assert window.mode == "estimated" and window.drop is not None
    assert window.distance is not None and window.distance < 0.1  # drift alone sees nothing
    if uncertain:
        assert window.verdict == "fail" and window.drop.low > 0.02
        assert "estimated roc_auc dropped" in window.reasons[0]
    else:
        assert window.verdict == "ok" and window.drop.low <= 0.02


def test_the_first_window_is_the_reference_when_the_evaluation_data_is_not_at_hand(tmp_path):
    p1, _ = calibrated(500, seed=1)
    p2 = np.full(500, 0.9)  # everything predicted positive now
    rows = served(tmp_path, records(p1, 1), records(p2, 2, start=500))
    first, second = judge(rows)
    assert first.verdict == "unjudged" and first.reasons == ["the reference window"]
    assert second.verdict == "fail" and second.distance > 0.1


def test_spearman_ranks():
    assert spearman([0.7, 0.8, 0.9], [0.60, 0.65, 0.7]) == pytest.approx(1.0)
    assert spearman([0.7, 0.8, 0.9], [0.7, 0.65, 0.6]) == pytest.approx(-1.0)
    assert np.isnan(spearman([0.7, 0.8, 0.9], [0.5, 0.5, 0.5]))


@pytest.mark.parametrize("shifted", [False, True])
def test_regression_without_labels_is_judged_by_prediction_drift_only(tmp_path, shifted):
    rng = np.random.default_rng(6)
    day1 = records(rng.normal(size=400), 1)
    day2 = records(rng.normal(size=400) + (2.0 if shifted else 0.0), 2, start=400)
    for r in day1 + day2:  # a regressor: a value, no probabilities
        r["prediction"], r["probabilities"] = r["inputs"]["x1"], None
    rows = served(tmp_path, day1, day2)
    first, second = assess(
        rows,
        task="regression",
        metric="r2",
        window_seconds=DAY,
        labels=None,
        offline={1: 0.8},
        references={},
        tolerance=0.02,
        min_labels=200,
        min_rows=100,
        max_distance=0.1,
    )
    assert first.verdict == "unjudged" and second.estimated is None and second.drop is None
    assert second.distance is not None
    assert second.verdict == ("fail" if shifted else "ok")


def test_the_reference_is_drawn_once_and_every_window_gets_the_same_estimate_as_drawn_afresh():
    """estimate_drop keeps the reference's bootstrap draws (and the generator after them) for
    the next window judged against it: each window's estimate and drop are exactly those of
    drawing the reference again first."""
    from keel.monitor import quality

    rng = np.random.default_rng(3)
    p = rng.beta(2, 2, 3_000)
    reference = np.c_[1 - p, p]
    windows = [np.c_[1 - q, q] for q in (rng.beta(2, 3, 900), rng.beta(3, 2, 1_200))]
    quality._REFERENCE_DRAWS.clear()
    for window in windows:
        fresh = np.random.default_rng(0)
        ref_value, ref_samples = quality._draws("roc_auc", reference, fresh)
        value, samples = quality._draws("roc_auc", window, fresh)
        expected = (
            quality._interval(value, samples),
            quality._interval(ref_value - value, ref_samples - samples),
        )
        assert estimate_drop("roc_auc", reference, window) == expected
    assert len(quality._REFERENCE_DRAWS) == 1  # the reference drawn once for both windows


@pytest.mark.parametrize("metric", ["roc_auc", "average_precision"])
def test_a_resample_ranked_from_the_rows_sorted_once_gives_exactly_its_metric(metric):
    """The bootstrap of the binary ranking metrics sorts the rows once, not each resample: each
    resample's estimate is bit for bit the one sorting it gives (ties and repeats included)."""
    from keel.monitor import quality

    rng = np.random.default_rng(5)
    p = np.round(rng.beta(2, 2, 5_000), 3)  # many ties
    p[:3] = [0.0, 1.0, 0.5]
    proba = np.c_[1 - p, p]
    ranked = quality._ranked(metric, proba)
    for _ in range(20):
        rows = rng.integers(0, len(p), 4_000)
        assert ranked(rows) == expected_metric(metric, proba[rows])
    assert quality._ranked("accuracy", proba) is None
