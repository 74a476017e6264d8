"""Prediction quality on served data: measured with late labels, estimated without them.

With labels (monitor.7, model.2): the served rows of each window and model version are joined
with the labels on example id (as text) and the primary metric is computed on them, with the
canary's own code (`keel.serve.canary`), then set against the version's offline evaluation
metric (stored with the version). A window needs `min_labels` labelled rows. It fails when the
drop exceeds the tolerance and the sampling noise of its labelled rows (`labelled_noise`: the
bootstrap spread of the metric at `NOISE_LEVEL`, as monitor.3's noise bounds), so a window of a
few hundred rows reading a few hundredths low by chance is no alarm.

Without labels, for classifiers: confidence-based performance estimation (CBPE, as NannyML
does). If the probabilities are calibrated, a row predicted with probability p for class k is of
class k with probability p, so every metric has an expected value computed from the
probabilities alone:

- accuracy: the mean of the highest probability; balanced accuracy, precision, recall, F1 (and
  macro F1): from the expected confusion matrix, whose cell (true k, predicted j) is the sum of
  p_k over the rows predicted j;
- ROC AUC: each row counts as a positive with weight p and as a negative with weight 1 - p;
  sorting the rows by score, the expected true and false positives above each threshold are the
  running sums of p and 1 - p, giving an expected ROC curve whose area is the estimate
  (multiclass: the macro average of each class against the rest, as scikit-learn's "ovr");
  average precision likewise from the expected precision-recall curve;
- log loss and Brier score: their expectations, the entropy and p(1 - p) per row.

The estimate holds only for calibrated probabilities, so `calibration` first measures, on the
evaluation data, the expected calibration error (ECE: top-label confidence against accuracy in
ten bins) and the gap between the estimate and the true metric there; beyond either limit the
evidence says the estimates are unreliable. The drop is the estimate on the reference (the
evaluation data, or the version's first window) minus the estimate on the window, with a 95%
bootstrap interval (rows resampled on both sides): the estimator is compared with itself, so
a steady bias of a miscalibrated model cancels, while a change of calibration in serving does
not. Beside it, the prediction distribution of each window is compared with the reference's
(`prediction_distance`: L-infinity between class frequencies, Jensen-Shannon divergence of
binned values for regression). For regression without labels only that drift is measured:
quality cannot be estimated.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from keel.model.metrics import Predictions, compute
from keel.model.online_quality import (
    as_text,
    labelled_quality,
    prediction_distance,
    proba_matrix,
    quality_noise,
)
from keel.monitor.drift import NOISE_LEVEL
from keel.monitor.windows import window_starts

MAX_ECE = 0.05  # expected calibration error above which CBPE is called unreliable
DRAWS = 200  # bootstrap resamples per side
NOISE_DRAWS = 100  # bootstrap resamples for a labelled window's sampling noise
CAP = 20_000  # rows per bootstrap resample (the spread is rescaled to the full count)
Verdict = Literal["ok", "fail", "unjudged"]


@dataclass
class Estimate:
    """A value and its 95% interval."""

    value: float
    low: float
    high: float


@dataclass
class Reference:
    """What a window is compared with: predictions (and probabilities) on the evaluation data
    or on the version's first window."""

    source: str
    predictions: pd.Series
    proba: np.ndarray | None = None
    classes: list[str] | None = None


@dataclass
class Calibration:
    """CBPE's premise checked on the evaluation data."""

    ece: float
    estimated: float  # the metric CBPE estimates there
    actual: float  # the metric measured there
    max_gap: float = 0.02  # estimated against actual, beyond which CBPE is called unreliable

    @property
    def poor(self) -> bool:
        return not (self.ece <= MAX_ECE and abs(self.estimated - self.actual) <= self.max_gap)


@dataclass
class WindowQuality:
    """One window × model version: measured or estimated quality, drift and the verdict."""

    window: str
    version: int
    rows: int
    labelled: int = 0
    online: float | None = None
    offline: float | None = None
    estimated: Estimate | None = None
    drop: Estimate | None = None  # reference estimate minus window estimate
    distance: float | None = None
    verdict: Verdict = "unjudged"
    reasons: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "labels" if self.online is not None else "estimated"


# -- CBPE ------------------------------------------------------------------------------------
def _auc(score: np.ndarray, p: np.ndarray) -> float:
    order = np.argsort(-score, kind="mergesort")
    return _auc_sorted(score[order], p[order])


def _auc_sorted(s: np.ndarray, w: np.ndarray) -> float:
    """`_auc` of scores `s` already in descending order, with their weights `w`."""
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp, fp = np.r_[0.0, np.cumsum(w)[ends]], np.r_[0.0, np.cumsum(1 - w)[ends]]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    return float(np.trapezoid(tp / tp[-1], fp / fp[-1]))


def _average_precision(p: np.ndarray) -> float:
    return _average_precision_sorted(p[np.argsort(-p, kind="mergesort")])


def _average_precision_sorted(s: np.ndarray) -> float:
    """`_average_precision` of probabilities `s` already in descending order."""
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp, fp = np.cumsum(s)[ends], np.cumsum(1 - s)[ends]
    if tp[-1] <= 0:
        return float("nan")
    recall = np.r_[0.0, tp / tp[-1]]
    return float(np.sum(np.diff(recall) * tp / (tp + fp)))


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def _from_confusion(metric: str, proba: np.ndarray) -> float:
    n, k = proba.shape
    predicted = proba.argmax(axis=1)
    cm = np.stack([proba[predicted == j].sum(axis=0) for j in range(k)], axis=1)  # true × pred
    tp = np.diag(cm)
    if metric == "accuracy":
        return float(tp.sum() / n)
    recall = np.array([_ratio(tp[i], cm[i].sum()) for i in range(k)])
    precision = np.array([_ratio(tp[i], cm[:, i].sum()) for i in range(k)])
    f1 = np.array([_ratio(2 * tp[i], cm[i].sum() + cm[:, i].sum()) for i in range(k)])
    return float(
        {
            "balanced_accuracy": recall.mean(),
            "precision": precision[-1],
            "recall": recall[-1],
            "f1": f1[-1],
            "f1_macro": f1.mean(),
        }[metric]
    )


ESTIMABLE = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "f1_macro",
    "roc_auc",
    "average_precision",
    "neg_log_loss",
    "neg_brier_score",
)


def expected_metric(metric: str, proba: np.ndarray) -> float:
    """The metric CBPE expects of rows predicted with these probabilities (columns in class
    order, the positive class last for binary metrics)."""
    if metric == "roc_auc":
        if proba.shape[1] == 2:
            return _auc(proba[:, 1], proba[:, 1])
        return float(np.nanmean([_auc(proba[:, j], proba[:, j]) for j in range(proba.shape[1])]))
    if metric == "average_precision":
        return _average_precision(proba[:, 1])
    if metric == "neg_log_loss":
        return float(np.mean(np.sum(proba * np.log(np.clip(proba, 1e-15, 1)), axis=1)))
    if metric == "neg_brier_score":
        return float(-np.mean(proba[:, 1] * (1 - proba[:, 1])))
    if metric in ESTIMABLE:
        return _from_confusion(metric, proba)
    raise ValueError(f"CBPE does not estimate {metric}")


def estimated_metric(metric: str) -> str:
    """The metric CBPE estimates for a primary metric (ROC AUC stands in for those it cannot)."""
    return metric if metric in ESTIMABLE else "roc_auc"


def _draws(metric: str, proba: np.ndarray, rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """(estimate, bootstrap estimates): resamples of at most CAP rows, their spread rescaled
    to the full row count."""
    n = len(proba)
    value = expected_metric(metric, proba)
    m = min(n, CAP)
    ranked = _ranked(metric, proba)
    if ranked is None:
        samples = np.array(
            [expected_metric(metric, proba[rng.integers(0, n, m)]) for _ in range(DRAWS)]
        )
    else:
        samples = np.array([ranked(rng.integers(0, n, m)) for _ in range(DRAWS)])
    return value, value + (samples - value) * math.sqrt(m / n)


def _ranked(metric: str, proba: np.ndarray) -> Any:
    """For the binary ranking metrics (ROC AUC, average precision): the metric of a resample
    (`rows`, with repeats) from the rows sorted once. A resample's probabilities in
    descending order are the sorted probabilities each repeated as often as it was drawn
    (equal probabilities are equal numbers, so their order among themselves changes nothing),
    exactly what sorting the resample gives: its rows' places in the sorted order, sorted (a
    sort of the resample's integers, never of the window). None for the other metrics."""
    if metric not in ("roc_auc", "average_precision") or proba.ndim != 2 or proba.shape[1] != 2:
        return None
    p = proba[:, 1]
    order = np.argsort(-p, kind="mergesort")
    descending = p[order]
    rank = np.empty(len(p), np.intp)  # each row's place in `descending`
    rank[order] = np.arange(len(p))

    def of(rows: np.ndarray) -> float:
        s = descending[np.sort(rank[rows])]  # its cost follows the resample, not the window
        return _auc_sorted(s, s) if metric == "roc_auc" else _average_precision_sorted(s)

    return of


def _interval(value: float, samples: np.ndarray) -> Estimate:
    low, high = np.nanpercentile(samples, [2.5, 97.5])
    return Estimate(value, float(low), float(high))


_REFERENCE_DRAWS: dict[str, tuple[float, np.ndarray, dict[str, Any]]] = {}


def _reference_draws(
    metric: str, reference: np.ndarray, seed: int
) -> tuple[float, np.ndarray, np.random.Generator]:
    """`_draws` of the reference from a generator seeded `seed`, and that generator after
    them: the same for every window judged against one reference, so drawn once per process
    (by the reference's values) and the generator's state restored after."""
    data = np.ascontiguousarray(reference)
    key = hashlib.sha256(
        f"{metric}|{seed}|{data.dtype}|{data.shape}".encode() + data.tobytes()
    ).hexdigest()
    if key not in _REFERENCE_DRAWS:
        rng = np.random.default_rng(seed)
        value, samples = _draws(metric, reference, rng)
        if len(_REFERENCE_DRAWS) >= 8:  # a few references per run
            _REFERENCE_DRAWS.clear()
        _REFERENCE_DRAWS[key] = (value, samples, rng.bit_generator.state)
    value, samples, state = _REFERENCE_DRAWS[key]
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return value, samples.copy(), rng


def estimate_drop(
    metric: str, reference: np.ndarray, window: np.ndarray, *, seed: int = 0
) -> tuple[Estimate, Estimate]:
    """(the window's estimated metric, the estimated drop from the reference), each with a 95%
    bootstrap interval."""
    ref_value, ref_samples, rng = _reference_draws(metric, reference, seed)
    value, samples = _draws(metric, window, rng)
    return _interval(value, samples), _interval(ref_value - value, ref_samples - samples)


def calibration(
    metric: str, proba: np.ndarray, classes: list[str], y: Any, *, max_gap: float = 0.02
) -> Calibration:
    """How far CBPE can be trusted: on the evaluation data (true labels `y`), the expected
    calibration error and the estimated against the actual metric (poor beyond MAX_ECE or
    `max_gap`)."""
    labels = np.array(classes, dtype=object)[proba.argmax(axis=1)]
    truth = np.array([as_text(v) for v in np.asarray(y)], dtype=object)
    confidence = proba.max(axis=1)
    correct = (labels == truth).astype(float)
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        abs(confidence[bins == b].mean() - correct[bins == b].mean()) * (bins == b).sum()
        for b in np.unique(bins)
    ) / len(proba)
    actual = compute(metric, truth, Predictions(labels, proba, np.array(classes, dtype=object)))
    return Calibration(float(ece), expected_metric(metric, proba), float(actual), max_gap)


def probabilities(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]] | None:
    """The logged probabilities as a matrix (classes as text, sorted), None when rows lack
    them (`keel.model.online_quality.proba_matrix`)."""
    return proba_matrix(rows)


# -- per window ------------------------------------------------------------------------------
def windowed(rows: pd.DataFrame, window_seconds: float) -> pd.DataFrame:
    """Served rows that have a prediction, with their window (ISO start) in `window`."""
    ok = rows[rows["error"].isna() & rows["prediction"].notna() & rows["time"].notna()]
    ok = ok[ok["model_version"].notna()].copy()
    ok["model_version"] = ok["model_version"].astype(int)
    ok["window"] = window_starts(ok["time"], window_seconds).to_numpy() if len(ok) else []
    return ok.reset_index(drop=True)


def online_metric(
    rows: pd.DataFrame, labels: pd.Series | None, *, task: str, metric: str
) -> tuple[int, float | None]:
    """(labelled rows, the metric on them) for served rows, joined with labels by example id."""
    if labels is None or not len(labels) or not len(rows):
        return 0, None
    rows = rows.assign(example_id=rows["example_id"].map(lambda v: None if v is None else str(v)))
    return labelled_quality(rows, labels, metric, task)


def labelled_noise(
    rows: pd.DataFrame, labels: pd.Series, *, task: str, metric: str, seed: int = 0
) -> float:
    """How far below the true value the metric on these labelled rows can read by sampling
    alone (`keel.serve.canary.quality_noise` at NOISE_LEVEL, as monitor.3's noise bounds)."""
    return quality_noise(
        rows, labels, task=task, metric=metric, seed=seed, level=NOISE_LEVEL, draws=NOISE_DRAWS
    )


def reference_window(rows: pd.DataFrame, first: str) -> Reference:
    """A version's first window as the reference its later windows are compared with."""
    found = probabilities(rows)
    proba, classes = found if found is not None else (None, None)
    return Reference(f"window {first}", rows["prediction"], proba, classes)


def _estimate(wq: WindowQuality, rows: pd.DataFrame, ref: Reference, metric: str) -> None:
    found = probabilities(rows)
    if ref.proba is None or found is None or found[1] != ref.classes:
        wq.reasons.append("no probabilities to estimate quality from")
        return
    wq.estimated, wq.drop = estimate_drop(estimated_metric(metric), ref.proba, found[0])


def assess(
    rows: pd.DataFrame,
    *,
    task: str,
    metric: str,
    window_seconds: float,
    labels: pd.Series | None,
    offline: dict[int, float],
    references: dict[int, Reference],
    tolerance: float,
    min_labels: int,
    min_rows: int,
    max_distance: float,
) -> list[WindowQuality]:
    """Every window × model version of `rows` (`windowed`), oldest first, judged: by labels
    where `min_labels` arrived (online against offline), else by the CBPE drop (classifiers)
    and the prediction drift from the version's reference (`references`, or its first
    window)."""
    out: list[WindowQuality] = []
    limits = Limits(task, metric, tolerance, min_labels, min_rows, max_distance)
    for version, mine in rows.groupby("model_version", sort=True):
        windows = sorted(mine["window"].unique())
        ref = references.get(int(version))
        if ref is None:
            ref = reference_window(mine[mine["window"] == windows[0]], windows[0])
        for window in windows:
            part = mine[mine["window"] == window]
            out.append(
                assess_window(
                    part, window, int(version), ref, labels, offline.get(int(version)), limits
                )
            )
    return sorted(out, key=lambda w: (w.window, w.version))


@dataclass(frozen=True)
class Limits:
    """What a window is judged under: the task, the primary metric and [monitor]'s limits."""

    task: str
    metric: str
    tolerance: float
    min_labels: int
    min_rows: int
    max_distance: float


def assess_window(
    part: pd.DataFrame,
    window: str,
    version: int,
    ref: Reference,
    labels: pd.Series | None,
    offline: float | None,
    limits: Limits,
) -> WindowQuality:
    """One window of one version's served rows judged (see `assess`)."""
    task, metric, tolerance = limits.task, limits.metric, limits.tolerance
    wq = WindowQuality(window, version, len(part), offline=offline)
    wq.labelled, value = online_metric(part, labels, task=task, metric=metric)
    if value is not None and wq.labelled >= limits.min_labels:
        wq.online = value
        if wq.offline is None:
            wq.reasons.append(f"version {version} has no stored offline {metric}")
        elif wq.offline - value > tolerance:
            noise = labelled_noise(part, labels, task=task, metric=metric)
            if wq.offline - value > noise:
                wq.verdict = "fail"
                wq.reasons.append(
                    f"{metric} {value:.4f} online against {wq.offline:.4f} offline on "
                    f"{wq.labelled:,} labelled rows (beyond the sampling noise, {noise:.4f})"
                )
            else:
                wq.verdict = "ok"
                wq.reasons.append(
                    f"{metric} {value:.4f} online against {wq.offline:.4f} offline: within "
                    f"the sampling noise of {wq.labelled:,} labelled rows ({noise:.4f})"
                )
        else:
            wq.verdict = "ok"
        return wq
    if ref.source == f"window {window}":
        wq.reasons.append("the reference window")
    elif len(part) < limits.min_rows:
        wq.reasons.append(f"{len(part)} rows, fewer than [monitor] min_rows = {limits.min_rows}")
    else:
        _judge_unlabelled(wq, part, ref, task, metric, tolerance, limits.max_distance)
    return wq


def _judge_unlabelled(
    wq: WindowQuality,
    part: pd.DataFrame,
    ref: Reference,
    task: str,
    metric: str,
    tolerance: float,
    max_distance: float,
) -> None:
    measured = False
    if task != "regression":
        _estimate(wq, part, ref, metric)
        measured = wq.drop is not None
        if wq.drop is not None and wq.drop.low > tolerance:
            wq.verdict = "fail"
            wq.reasons.append(
                f"estimated {estimated_metric(metric)} dropped by {wq.drop.value:.4f} (95% "
                f"interval {wq.drop.low:.4f} to {wq.drop.high:.4f}), beyond {tolerance:g}"
            )
    try:
        wq.distance = prediction_distance(ref.predictions.dropna(), part["prediction"], task)
    except (TypeError, ValueError) as exc:
        wq.reasons.append(f"predictions not comparable: {exc}")
    if wq.distance is not None:
        measured = True
        if wq.distance > max_distance:
            wq.verdict = "fail"
            wq.reasons.append(
                f"prediction distribution moved {wq.distance:.3f} from {ref.source}, beyond "
                f"{max_distance:g}"
            )
    if measured and wq.verdict != "fail":
        wq.verdict = "ok"


def distrust_estimates(judged: list[WindowQuality], version: int, why: str) -> list[WindowQuality]:
    """`judged` with `version`'s windows that were judged ok without labels (by the CBPE
    estimate and prediction drift) made unjudged, saying `why`: an estimate that cannot be
    trusted measured nothing, so it is not a pass. Failures stay failures."""
    out = []
    for w in judged:
        if w.version == version and w.verdict == "ok" and w.online is None:
            w = replace(w, verdict="unjudged", reasons=[*w.reasons, why])
        out.append(w)
    return out


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either side is constant."""
    return float(pd.Series(x).rank().corr(pd.Series(y).rank()))
