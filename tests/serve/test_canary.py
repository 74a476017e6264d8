"""`keel.serve.canary`: a candidate judged against the champion on what the servers logged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from keel.registry.canary import CanaryState
from keel.serve.canary import CanaryPolicy, judge_canary
from keel.serve.models import Loaded, Serving, bucket

STARTED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STATE = CanaryState(version=2, share=0.2, champion=1, started=STARTED.isoformat(), who="t")
POLICY = CanaryPolicy(window_seconds=600, min_requests=100)
LATER = STARTED + timedelta(seconds=900)


def logged(
    n: int,
    route: str,
    *,
    p_one: float = 0.3,
    latency: float = 0.01,
    errors: int = 0,
    seed: int = 0,
    start: int = 0,
    wrong: float = 0.0,
) -> pd.DataFrame:
    """`n` logged rows of one route: binary predictions with probabilities; `wrong` is the
    share whose prediction disagrees with the label `y` returned alongside."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    score = np.where(y, rng.uniform(0.5, 1, n), rng.uniform(0, 0.5, n))
    flip = rng.random(n) < wrong
    score = np.where(flip, 1 - score, score)
    if p_one != 0.3:  # shift the predicted-class distribution
        score = np.clip(score + (p_one - 0.3), 0, 1)
    prediction = (score >= 0.5).astype(int)
    ids = [f"e{start + i}" for i in range(n)]
    return pd.DataFrame(
        {
            "request_id": [f"r-{route}-{start + i}" for i in range(n)],
            "row": 0,
            "example_id": ids,
            "time": (STARTED + timedelta(seconds=1)).isoformat(),
            "model_version": 1 if route == "champion" else 2,
            "route": route,
            "prediction": prediction,
            "probabilities": [{"0": 1 - s, "1": s} for s in score],
            "latency_seconds": latency,
            "error": [("boom" if i < errors else None) for i in range(n)],
            "y": y.astype(int),
        }
    )


def both(champion: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([champion, candidate], ignore_index=True)


def judge(rows: pd.DataFrame, labels=None, now=LATER, policy=POLICY):
    return judge_canary(
        rows.drop(columns=["y"]),
        STATE,
        policy,
        task="binary",
        metric="roc_auc",
        labels=labels,
        now=now,
    )


def test_a_healthy_candidate_is_promoted_after_the_window():
    rows = both(logged(800, "champion"), logged(200, "canary", seed=1, start=800))
    report = judge(rows)
    assert report.decision == "promote", report.reasons
    assert report.candidate.rows == 200 and report.champion.rows == 800
    assert {c.name for c in report.comparisons} >= {
        "error rate increase",
        "p99 latency ratio",
        "prediction distribution distance",
    }


def test_before_the_window_or_with_too_few_rows_the_decision_waits():
    rows = both(logged(800, "champion"), logged(200, "canary", seed=1, start=800))
    early = judge(rows, now=STARTED + timedelta(seconds=60))
    assert early.decision == "wait" and "window" in early.reasons[0]
    few = both(logged(800, "champion"), logged(50, "canary", seed=1, start=800))
    assert judge(few).decision == "wait"


def test_a_candidate_that_errors_more_is_aborted():
    rows = both(logged(800, "champion"), logged(200, "canary", seed=1, start=800, errors=10))
    report = judge(rows)
    assert report.decision == "abort"
    assert "error rate" in report.reasons[0]


def test_a_slower_candidate_is_aborted_on_p99_latency():
    rows = both(logged(800, "champion"), logged(200, "canary", seed=1, start=800, latency=0.05))
    assert judge(rows).decision == "abort"


def test_a_candidate_predicting_another_distribution_is_aborted_even_when_fast_and_error_free():
    rows = both(logged(800, "champion"), logged(200, "canary", seed=1, start=800, p_one=0.7))
    report = judge(rows)
    assert report.decision == "abort"
    assert any("prediction distribution" in r for r in report.reasons)


def test_with_labels_a_candidate_of_worse_quality_is_aborted():
    champion = logged(800, "champion")
    candidate = logged(200, "canary", seed=1, start=800, wrong=0.3)
    rows = both(champion, candidate)
    labels = pd.Series(rows["y"].to_numpy(), index=rows["example_id"].astype(str))
    report = judge(rows, labels=labels)
    assert report.candidate.quality is not None and report.champion.quality is not None
    assert report.candidate.quality < report.champion.quality
    assert report.decision == "abort"
    healthy = both(champion, logged(200, "canary", seed=1, start=800))
    labels = pd.Series(healthy["y"].to_numpy(), index=healthy["example_id"].astype(str))
    assert judge(healthy, labels=labels).decision == "promote"


def test_routing_is_sticky_by_id_and_sends_about_the_share():
    champion, candidate = Loaded(1, None, 0.0), Loaded(2, None, 0.0)
    serving = Serving(champion, candidate, 0.1)
    routes = [serving.route(f"id-{i}")[1] for i in range(20_000)]
    share = routes.count("canary") / len(routes)
    assert 0.09 < share < 0.11
    assert [serving.route(f"id-{i}")[1] for i in range(200)] == routes[:200]
    assert bucket("same") == bucket("same")
    assert Serving(champion, candidate, 0.0).route("id-1")[1] == "champion"
    assert Serving(champion, None, 0.5).route("id-1")[1] == "champion"
