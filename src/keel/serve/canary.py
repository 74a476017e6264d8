"""A running canary judged on what the servers logged: candidate against champion.

From the rows logged since the canary started (`keel.log.read.served_rows`), per route:
the error rate (rows whose prediction failed), p50/p99 latency of the requests, the prediction
distribution (L-infinity distance between predicted-class frequencies for classifiers,
Jensen-Shannon divergence of binned values for regression: the comparators of
`keel.data.compare`), the distribution of each class's predicted probability (Kolmogorov-Smirnov,
`keel.serve.canary_stats`), and, for served rows whose labels have arrived, the primary metric,
judged with power: a promotion needs the labels to rule out a drop of `max_quality_drop`.
The `CanaryPolicy` turns that into a decision: "wait" (window not over, too few rows on a
route, or a comparison the data cannot decide yet: the reasons say how many rows or labels it
still needs), "promote" (every comparison holds) or "abort" (any one fails, or the deadline
passed undecided). Canary tools compare error rate and latency only; a candidate that answers
fast and wrong is caught here by the distributions and, once labels arrive, the quality.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from keel.model.online_quality import labelled_quality, prediction_distance, quality_spread
from keel.registry.canary import CanaryState
from keel.serve.canary_stats import (
    CONFIDENCE,
    Comparison,
    LabelledQuality,
    probability_distance,
    quality_drop,
)
from keel.serve.models import ROUTE_CANARY, ROUTE_CHAMPION

Decision = Literal["wait", "promote", "abort"]


@dataclass(frozen=True)
class CanaryPolicy:
    """`[canary]` in keel.toml, as plain values."""

    window_seconds: float = 600.0
    min_requests: int = 100
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 1.5
    max_prediction_distance: float = 0.1
    max_quality_drop: float = 0.02
    max_probability_distance: float = 0.1
    deadline_seconds: float | None = None  # undecided past this: abort


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
    quality_spread: float | None = None  # bootstrap standard deviation of `quality`


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
    policy: dict[str, Any] = field(default_factory=dict)  # the limits it was judged under
    confidence: float = CONFIDENCE

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


def judge_canary(
    rows: pd.DataFrame,
    state: CanaryState,
    policy: CanaryPolicy,
    *,
    task: str,
    metric: str,
    labels: pd.Series | None = None,
    labels_expected: bool | None = None,
    now: datetime | None = None,
) -> CanaryReport:
    """Compare the candidate with the champion on `rows` (served since the canary started)
    and decide. `labels` maps example id (as text) to the true label, where they arrived.
    `labels_expected` (default: whether `labels` is given): labels are configured, so the
    canary never promotes before they rule out a quality drop, even while none has arrived."""
    now = now or datetime.now(UTC)
    started = datetime.fromisoformat(state.started)
    elapsed = (now - started).total_seconds()
    champion = _route_stats(rows, ROUTE_CHAMPION, state.champion)
    candidate = _route_stats(rows, ROUTE_CANARY, state.version)
    report = CanaryReport(state.to_dict(), elapsed, policy.window_seconds, champion, candidate)
    report.metric = metric
    report.policy = asdict(policy)
    ok_rows = rows[rows["error"].isna()]
    report.comparisons += _service(champion, candidate, policy)
    report.comparisons += _distributions(ok_rows, policy, task)
    if labels_expected if labels_expected is not None else labels is not None:
        report.comparisons.append(_quality_drop(report, ok_rows, labels, policy, task, metric))
    _decide(report, policy, elapsed)
    return report


def _decide(report: CanaryReport, policy: CanaryPolicy, elapsed: float) -> None:
    """The decision from the comparisons: wait, promote or abort (module doc)."""
    failed = [c for c in report.comparisons if not c.ok and not c.undecided]
    undecided = [c for c in report.comparisons if c.undecided]
    if elapsed < policy.window_seconds:
        report.reasons.append(
            f"the window is not over: {elapsed:.0f} of {policy.window_seconds:.0f} s"
        )
    for stats in (report.champion, report.candidate):
        if stats.rows < policy.min_requests:
            report.reasons.append(
                f"the {stats.route} route served {stats.rows} rows, fewer than "
                f"[canary] min_requests = {policy.min_requests}"
            )
    if report.reasons:
        report.decision = "wait"
        report.reasons += [f"{c.name} undecided: {c.detail}" for c in undecided]
    elif failed:
        report.decision = "abort"
        report.reasons = [
            f"{c.name} {_figure(c.value)} over {c.limit:g} ({c.detail})" for c in failed
        ]
    elif undecided:
        late = policy.deadline_seconds is not None and elapsed >= policy.deadline_seconds
        report.decision = "abort" if late else "wait"
        report.reasons = [f"{c.name} undecided: {c.detail}" for c in undecided]
        if late:
            report.reasons.insert(
                0,
                f"the deadline passed ({elapsed:.0f} of [canary] deadline = "
                f"{policy.deadline_seconds:.0f} s) with comparisons still undecided",
            )
    else:
        report.decision = "promote"
        report.reasons = ["every comparison held over the window"]


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _service(champion: RouteStats, candidate: RouteStats, policy: CanaryPolicy) -> list[Comparison]:
    """Error rate and p99 latency of the candidate against the champion's."""
    increase = candidate.error_rate - champion.error_rate
    out = [
        Comparison(
            "error rate increase",
            increase,
            policy.max_error_rate_increase,
            increase <= policy.max_error_rate_increase,
            f"{candidate.error_rate:.2%} on the candidate, {champion.error_rate:.2%} on the "
            "champion",
            key="error_rate_increase",
            bound=increase,
        )
    ]
    if champion.p99_ms and candidate.p99_ms is not None:
        ratio = candidate.p99_ms / champion.p99_ms
        out.append(
            Comparison(
                "p99 latency ratio",
                ratio,
                policy.max_p99_ratio,
                ratio <= policy.max_p99_ratio,
                f"{candidate.p99_ms:.1f} ms on the candidate, {champion.p99_ms:.1f} ms on the "
                "champion",
                key="p99_ratio",
                bound=ratio,
            )
        )
    return out


def _distributions(ok_rows: pd.DataFrame, policy: CanaryPolicy, task: str) -> list[Comparison]:
    """The predictions' distribution (class mix or binned values) and, for classifiers, each
    class's predicted probability, candidate against champion."""
    routes = {r: ok_rows[ok_rows["route"] == r] for r in (ROUTE_CHAMPION, ROUTE_CANARY)}
    served = {r: f["prediction"].dropna() for r, f in routes.items()}
    if not len(served[ROUTE_CHAMPION]) or not len(served[ROUTE_CANARY]):
        return []
    distance = prediction_distance(served[ROUTE_CHAMPION], served[ROUTE_CANARY], task)
    kind = "Jensen-Shannon" if task == "regression" else "L-infinity"
    out = [
        Comparison(
            "prediction distribution distance",
            distance,
            policy.max_prediction_distance,
            distance <= policy.max_prediction_distance,
            f"{kind} between the two routes' predictions",
            key="prediction_distance",
            bound=distance,
        )
    ]
    if task != "regression":
        found = probability_distance(
            routes[ROUTE_CHAMPION]["probabilities"],
            routes[ROUTE_CANARY]["probabilities"],
            policy.max_probability_distance,
        )
        out += [found] if found is not None else []
    return out


def _quality_drop(
    report: CanaryReport,
    ok_rows: pd.DataFrame,
    labels: pd.Series | None,
    policy: CanaryPolicy,
    task: str,
    metric: str,
) -> Comparison:
    """Each route's metric on its labelled rows (set on the report's route figures) and the
    drop judged with power (`keel.serve.canary_stats.quality_drop`)."""
    measured = {}
    for stats in (report.champion, report.candidate):
        mine = ok_rows[ok_rows["route"] == stats.route]
        spread = float("nan")
        if labels is not None and len(labels):
            stats.labelled, stats.quality = labelled_quality(mine, labels, metric, task)
            if stats.quality is not None:
                spread = quality_spread(mine, labels, task=task, metric=metric)
                stats.quality_spread = spread if math.isfinite(spread) else None
        measured[stats.route] = LabelledQuality(stats.labelled, stats.quality, spread)
    return quality_drop(
        metric, policy.max_quality_drop, measured[ROUTE_CHAMPION], measured[ROUTE_CANARY]
    )
