"""A running canary judged on what the servers logged: candidate against champion.

From the rows logged since the canary started (`keel.serve.logread.served_rows`), per route:
the error rate (rows whose prediction failed), p50/p99 latency of the requests, the prediction
distribution (L-infinity distance between predicted-class frequencies for classifiers,
Jensen-Shannon divergence of binned values for regression: the comparators of
`keel.data.compare`), and, for served rows whose labels have arrived, the primary metric. The
`CanaryPolicy` turns that into a decision: "wait" (window not over, or too few rows on a route),
"promote" (every comparison holds) or "abort" (any one fails). Canary tools compare error rate
and latency only; a candidate that answers fast and wrong is caught here by the distribution
and, once labels arrive, the quality.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd

from keel.data.compare import js_divergence, linf_distance
from keel.model.metrics import Predictions, compute
from keel.registry.canary import CanaryState
from keel.serve.models import ROUTE_CANARY, ROUTE_CHAMPION

Decision = Literal["wait", "promote", "abort"]
_BINS = 10


@dataclass(frozen=True)
class CanaryPolicy:
    """`[canary]` in keel.toml, as plain values."""

    window_seconds: float = 600.0
    min_requests: int = 100
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 1.5
    max_prediction_distance: float = 0.1
    max_quality_drop: float = 0.02


@dataclass
class RouteStats:
    """What one route served during the canary."""

    route: str
    version: int
    rows: int
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    labelled: int = 0
    quality: float | None = None


@dataclass
class Comparison:
    """One comparison of the candidate with the champion: measured, limit, held or not."""

    name: str
    value: float | None
    limit: float
    ok: bool
    detail: str


@dataclass
class CanaryReport:
    """The canary's state, both routes' figures, the comparisons and the decision."""

    canary: dict[str, Any]
    elapsed_seconds: float
    window_seconds: float
    champion: RouteStats
    candidate: RouteStats
    comparisons: list[Comparison] = field(default_factory=list)
    decision: Decision = "wait"
    reasons: list[str] = field(default_factory=list)
    metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _route_stats(rows: pd.DataFrame, route: str, version: int) -> RouteStats:
    mine = rows[rows["route"] == route]
    errors = int(mine["error"].notna().sum())
    per_request = mine.groupby("request_id")["latency_seconds"].max().dropna()
    p50 = p99 = None
    if len(per_request):
        p50 = float(np.percentile(per_request.to_numpy(dtype=float), 50) * 1000)
        p99 = float(np.percentile(per_request.to_numpy(dtype=float), 99) * 1000)
    return RouteStats(
        route=route,
        version=version,
        rows=len(mine),
        requests=int(mine["request_id"].nunique()),
        errors=errors,
        error_rate=errors / len(mine) if len(mine) else 0.0,
        p50_ms=p50,
        p99_ms=p99,
    )


def _frequencies(values: pd.Series) -> dict[str, float]:
    counts = values.astype(str).value_counts()
    return {str(k): float(v) / float(counts.sum()) for k, v in counts.items()}


def prediction_distance(champion: pd.Series, candidate: pd.Series, task: str) -> float:
    """L-infinity between predicted-class frequencies (classifiers), or Jensen-Shannon
    divergence of values binned at the champion's deciles (regression)."""
    if task != "regression":
        return linf_distance(_frequencies(champion), _frequencies(candidate))
    a = champion.astype(float).to_numpy()
    b = candidate.astype(float).to_numpy()
    edges = np.unique(np.quantile(a, np.linspace(0, 1, _BINS + 1)[1:-1]))
    bins_a = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1)
    bins_b = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1)
    return js_divergence(bins_a.astype(float), bins_b.astype(float))


def _text(value: Any) -> str:
    """A label as text the way JSON keys carry classes (1.0 and 1 are both "1")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _quality(
    rows: pd.DataFrame, labels: pd.Series, metric: str, task: str
) -> tuple[int, float | None]:
    """(labelled rows, metric on them) for one route's rows; the metric None below 20 rows or
    with one class only."""
    joined = rows.assign(label=rows["example_id"].map(labels)).dropna(subset=["label"])
    if len(joined) < 20:
        return len(joined), None
    if task == "regression":
        y = joined["label"].astype(float).to_numpy()
        predictions = Predictions(joined["prediction"].astype(float).to_numpy())
    else:  # labels, predictions and classes compared as text, as JSON carried them
        y = joined["label"].map(_text).to_numpy()
        probabilities = joined["probabilities"]
        if probabilities.isna().any() or len(set(y)) < 2:
            return len(joined), None
        classes = sorted(probabilities.iloc[0])
        proba = np.array([[p[c] for c in classes] for p in probabilities], dtype=float)
        predictions = Predictions(
            joined["prediction"].map(_text).to_numpy(), proba, np.array(classes, dtype=object)
        )
    try:
        return len(joined), float(compute(metric, y, predictions))
    except (ValueError, TypeError):
        return len(joined), None


def quality_noise(
    rows: pd.DataFrame,
    labels: pd.Series,
    *,
    task: str,
    metric: str,
    seed: int = 0,
    level: float = 0.999,
    draws: int = 100,
) -> float:
    """How far below the true value the metric on these labelled rows can read by sampling
    alone: the bootstrap standard deviation (rows resampled `draws` times) times the normal
    quantile at `level`. A window of a few hundred labelled
    rows reads a ROC AUC several hundredths off by chance; a drop within this is not one."""
    ids = rows["example_id"].map(lambda v: None if v is None else str(v))
    joined = rows.assign(label=ids.map(labels)).dropna(subset=["label"])
    if len(joined) < 20:
        return 0.0
    if task == "regression":
        y = joined["label"].astype(float).to_numpy()
        made, proba, classes = joined["prediction"].astype(float).to_numpy(), None, None
    else:  # as _quality: labels and classes as text
        y = joined["label"].map(_text).to_numpy()
        if joined["probabilities"].isna().any():
            return 0.0
        names = sorted(joined["probabilities"].iloc[0])
        proba = np.array([[p[c] for c in names] for p in joined["probabilities"]], dtype=float)
        made, classes = joined["prediction"].map(_text).to_numpy(), np.array(names, dtype=object)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        if task != "regression" and len(set(y[i])) < 2:
            continue
        try:
            value = compute(
                metric, y[i], Predictions(made[i], None if proba is None else proba[i], classes)
            )
        except (ValueError, TypeError):
            continue
        if math.isfinite(value):
            values.append(float(value))
    if len(values) < 2:
        return 0.0
    return float(NormalDist().inv_cdf(level) * np.std(values, ddof=1))


def judge_canary(
    rows: pd.DataFrame,
    state: CanaryState,
    policy: CanaryPolicy,
    *,
    task: str,
    metric: str,
    labels: pd.Series | None = None,
    now: datetime | None = None,
) -> CanaryReport:
    """Compare the candidate with the champion on `rows` (served since the canary started)
    and decide. `labels` maps example id (as text) to the true label, where they arrived."""
    now = now or datetime.now(UTC)
    started = datetime.fromisoformat(state.started)
    elapsed = (now - started).total_seconds()
    champion = _route_stats(rows, ROUTE_CHAMPION, state.champion)
    candidate = _route_stats(rows, ROUTE_CANARY, state.version)
    report = CanaryReport(state.to_dict(), elapsed, policy.window_seconds, champion, candidate)
    report.metric = metric
    ok_rows = rows[rows["error"].isna()]
    served = {
        r: ok_rows[ok_rows["route"] == r]["prediction"].dropna()
        for r in (ROUTE_CHAMPION, ROUTE_CANARY)
    }
    increase = candidate.error_rate - champion.error_rate
    report.comparisons.append(
        Comparison(
            "error rate increase",
            increase,
            policy.max_error_rate_increase,
            increase <= policy.max_error_rate_increase,
            f"{candidate.error_rate:.2%} on the candidate, {champion.error_rate:.2%} on the "
            "champion",
        )
    )
    if champion.p99_ms and candidate.p99_ms is not None:
        ratio = candidate.p99_ms / champion.p99_ms
        report.comparisons.append(
            Comparison(
                "p99 latency ratio",
                ratio,
                policy.max_p99_ratio,
                ratio <= policy.max_p99_ratio,
                f"{candidate.p99_ms:.1f} ms on the candidate, {champion.p99_ms:.1f} ms on the "
                "champion",
            )
        )
    if len(served[ROUTE_CHAMPION]) and len(served[ROUTE_CANARY]):
        distance = prediction_distance(served[ROUTE_CHAMPION], served[ROUTE_CANARY], task)
        kind = "Jensen-Shannon" if task == "regression" else "L-infinity"
        report.comparisons.append(
            Comparison(
                "prediction distribution distance",
                distance,
                policy.max_prediction_distance,
                distance <= policy.max_prediction_distance,
                f"{kind} between the two routes' predictions",
            )
        )
    if labels is not None and len(labels):
        for stats, route in ((champion, ROUTE_CHAMPION), (candidate, ROUTE_CANARY)):
            stats.labelled, stats.quality = _quality(
                ok_rows[ok_rows["route"] == route], labels, metric, task
            )
        if champion.quality is not None and candidate.quality is not None:
            drop = champion.quality - candidate.quality
            noise = math.hypot(
                *(
                    quality_noise(
                        ok_rows[ok_rows["route"] == route], labels, task=task, metric=metric
                    )
                    for route in (ROUTE_CHAMPION, ROUTE_CANARY)
                )
            )
            report.comparisons.append(
                Comparison(
                    f"{metric} drop on labelled rows",
                    drop,
                    policy.max_quality_drop,
                    drop <= policy.max_quality_drop or drop <= noise,
                    f"{candidate.quality:.4f} on {candidate.labelled} candidate rows, "
                    f"{champion.quality:.4f} on {champion.labelled} champion rows; a drop "
                    f"within the sampling noise of those rows ({noise:.4f}) is not counted",
                )
            )
    failed = [c for c in report.comparisons if not c.ok]
    if elapsed < policy.window_seconds:
        report.reasons.append(
            f"the window is not over: {elapsed:.0f} of {policy.window_seconds:.0f} s"
        )
    for stats in (champion, candidate):
        if stats.rows < policy.min_requests:
            report.reasons.append(
                f"the {stats.route} route served {stats.rows} rows, fewer than "
                f"[canary] min_requests = {policy.min_requests}"
            )
    if report.reasons:
        report.decision = "wait"
    elif failed:
        report.decision = "abort"
        report.reasons = [f"{c.name} {c.value:.4g} over {c.limit:g} ({c.detail})" for c in failed]
    else:
        report.decision = "promote"
        report.reasons = ["every comparison held over the window"]
    return report
