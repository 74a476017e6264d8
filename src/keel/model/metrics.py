"""The metrics Keel evaluates models with, by scikit-learn scorer name, computed from predictions.

Metrics are computed from predictions made once and cached, never by re-running the model, so
every check shares one set of predictions. All metrics are oriented so that higher is better,
as scikit-learn scorers are (errors carry the `neg_` prefix).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Task = Literal["binary", "multiclass", "regression"]


@dataclass
class Predictions:
    """A model's output on some rows: labels (or values) and, for classifiers, probabilities."""

    labels: np.ndarray
    proba: np.ndarray | None = None
    classes: np.ndarray | None = None

    @property
    def score(self) -> np.ndarray:
        """The positive-class probability (binary), probabilities (multiclass) or values."""
        if self.proba is None:
            return self.labels
        if self.proba.shape[1] == 2:
            return self.proba[:, 1]
        return self.proba

    def take(self, index: np.ndarray) -> Predictions:
        """The predictions of a subset of rows (a boolean mask or positions)."""
        proba = None if self.proba is None else self.proba[index]
        return Predictions(self.labels[index], proba, self.classes)


@dataclass(frozen=True)
class Metric:
    """One metric: what it reads from the predictions and which tasks it applies to."""

    name: str
    reads: Literal["labels", "score"]
    tasks: tuple[Task, ...]
    func: Callable[..., float]


class _SklearnMetrics:
    """scikit-learn's metrics module, imported on first use so `import keel` stays light."""

    def __getattr__(self, name: str) -> Callable[..., float]:
        from sklearn import metrics

        return getattr(metrics, name)


skm = _SklearnMetrics()


def _sk(name: str) -> Callable[..., float]:
    return lambda y, p: getattr(skm, name)(y, p)


def _neg(name: str) -> Callable[..., float]:
    return lambda y, p: -getattr(skm, name)(y, p)


def _roc_auc(y: np.ndarray, score: np.ndarray, classes: np.ndarray | None) -> float:
    if score.ndim == 1:
        return skm.roc_auc_score(y, score)
    return skm.roc_auc_score(y, score, multi_class="ovr", labels=classes)


_C: tuple[Task, ...] = ("binary", "multiclass")
_B: tuple[Task, ...] = ("binary",)
_R: tuple[Task, ...] = ("regression",)

METRICS: dict[str, Metric] = {
    "roc_auc": Metric("roc_auc", "score", _C, _roc_auc),
    "average_precision": Metric(
        "average_precision", "score", _B, lambda y, s, c: skm.average_precision_score(y, s)
    ),
    "neg_log_loss": Metric(
        "neg_log_loss", "score", _C, lambda y, s, c: -skm.log_loss(y, s, labels=c)
    ),
    "neg_brier_score": Metric(
        "neg_brier_score", "score", _B, lambda y, s, c: -skm.brier_score_loss(y, s)
    ),
    "accuracy": Metric("accuracy", "labels", _C, _sk("accuracy_score")),
    "balanced_accuracy": Metric("balanced_accuracy", "labels", _C, _sk("balanced_accuracy_score")),
    "f1": Metric("f1", "labels", _B, _sk("f1_score")),
    "precision": Metric("precision", "labels", _B, _sk("precision_score")),
    "recall": Metric("recall", "labels", _B, _sk("recall_score")),
    "f1_macro": Metric("f1_macro", "labels", _C, lambda y, p: skm.f1_score(y, p, average="macro")),
    "r2": Metric("r2", "labels", _R, _sk("r2_score")),
    "neg_mean_absolute_error": Metric(
        "neg_mean_absolute_error", "labels", _R, _neg("mean_absolute_error")
    ),
    "neg_mean_squared_error": Metric(
        "neg_mean_squared_error", "labels", _R, _neg("mean_squared_error")
    ),
    "neg_root_mean_squared_error": Metric(
        "neg_root_mean_squared_error", "labels", _R, _neg("root_mean_squared_error")
    ),
}

DEFAULT_METRIC: dict[str, str] = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


def metrics_for(task: Task) -> list[str]:
    """Names of the metrics that apply to a task."""
    return [name for name, m in METRICS.items() if task in m.tasks]


def compute(name: str, y_true: np.ndarray, predictions: Predictions) -> float:
    """The metric `name` of predictions against true values; NaN when it is undefined there.

    A metric is undefined, for example, on a slice holding a single class for ROC AUC.
    """
    metric = METRICS[name]
    y = np.asarray(y_true)
    if len(y) == 0:
        return float("nan")
    if metric.reads == "score":
        if predictions.proba is None:
            raise ValueError(f"metric {name} needs predicted probabilities (predict_proba)")
        if len(np.unique(y)) < 2:
            return float("nan")
        return float(metric.func(y, predictions.score, predictions.classes))
    return float(metric.func(y, predictions.labels))
