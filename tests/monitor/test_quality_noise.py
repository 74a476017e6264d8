"""`keel.monitor.quality`: a labelled window is judged against the sampling noise of its rows,
so a few hundred healthy rows reading low by chance do not fail, while a real drop does."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from keel.log.read import served_rows
from keel.log.writer import PredictionLog, segments_dir
from keel.monitor.quality import assess, labelled_noise, windowed

DAY = 86_400.0


def calibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class probabilities and labels drawn from them (calibrated by construction)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 0.7, size=n)
    return p, (rng.random(n) < p).astype(int)


def records(p: np.ndarray, day: int) -> list[dict]:
    return [
        {
            "request_id": f"r{i}",
            "row": 0,
            "example_id": f"e{i}",
            "time": f"2026-11-{day:02d}T{(i % 24):02d}:00:00+00:00",
            "model_version": 1,
            "route": "champion",
            "inputs": {"x1": float(v)},
            "model_inputs": {"x1": float(v)},
            "prediction": int(v > 0.5),
            "probabilities": {"0": float(1 - v), "1": float(v)},
            "latency_seconds": 0.001,
        }
        for i, v in enumerate(p)
    ]


def served(tmp_path, batch: list[dict]) -> pd.DataFrame:
    with PredictionLog(segments_dir(tmp_path / "log")) as log:
        log.append(batch)
    return windowed(served_rows(tmp_path / "log"), DAY)


def judge(rows, labels, offline):
    return assess(
        rows,
        task="binary",
        metric="roc_auc",
        window_seconds=DAY,
        labels=labels,
        offline=offline,
        references={},
        tolerance=0.02,
        min_labels=200,
        min_rows=100,
        max_distance=0.1,
    )


def _chance_low(n: int, below: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A healthy sample of `n` rows (the offline model, calibrated) whose ROC AUC reads at
    least `below` under the population's by chance; the population's ROC AUC."""
    p_all, y_all = calibrated(200_000, seed=10)
    population = roc_auc_score(y_all, p_all)
    for seed in range(200):
        p, y = calibrated(n, seed=100 + seed)
        if roc_auc_score(y, p) < population - below:
            return p, y, population
    raise AssertionError("no unlucky sample found")


def test_a_healthy_window_reading_low_by_chance_passes(tmp_path):
    p, y, population = _chance_low(300, below=0.03)
    rows = served(tmp_path, records(p, 1))
    labels = pd.Series(y, index=[f"e{i}" for i in range(len(y))])
    (window,) = judge(rows, labels, {1: population})
    assert population - window.online > 0.03  # beyond the tolerance (0.02) …
    assert window.verdict == "ok"  # … but within what 300 rows read by chance
    assert "within the sampling noise" in window.reasons[0]


def test_a_real_drop_on_as_few_rows_fails(tmp_path):
    p, y = calibrated(300, seed=3)
    y = np.where(np.random.default_rng(4).random(300) < 0.3, 1 - y, y)  # 30% labels flipped
    rows = served(tmp_path, records(p, 1))
    labels = pd.Series(y, index=[f"e{i}" for i in range(300)])
    offline = roc_auc_score(*calibrated(200_000, seed=10)[::-1])
    (window,) = judge(rows, labels, {1: offline})
    assert window.verdict == "fail"
    assert "beyond the sampling noise" in window.reasons[0]


def test_the_noise_shrinks_with_the_rows(tmp_path):
    p, y = calibrated(2_000, seed=5)
    rows = served(tmp_path, records(p, 1))
    labels = pd.Series(y, index=[f"e{i}" for i in range(2_000)])
    few = labelled_noise(rows.iloc[:125], labels, task="binary", metric="roc_auc")
    many = labelled_noise(rows, labels, task="binary", metric="roc_auc")
    assert 0 < many < few
    assert few > 2 * many  # about sqrt(16) = 4 times: 1/sqrt(n)
