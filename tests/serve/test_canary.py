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


def labels_of(rows: pd.DataFrame) -> pd.Series:
    return pd.Series(rows["y"].to_numpy(), index=rows["example_id"].astype(str))


def quality_comparison(report):
    return next(c for c in report.comparisons if c.key == "quality_drop")


def test_labels_too_few_to_rule_out_the_drop_keep_the_canary_waiting_with_the_labels_needed():
    # both routes equally good (ROC AUC about 0.85), 150 labelled rows each: the drop's noise
    # is several hundredths, so a drop of 0.02 cannot be told from none
    rows = both(
        logged(150, "champion", wrong=0.15), logged(150, "canary", seed=1, start=150, wrong=0.15)
    )
    report = judge(rows, labels=labels_of(rows), policy=CanaryPolicy(window_seconds=600))
    quality = quality_comparison(report)
    assert quality.undecided and not quality.ok and quality.bound > 0.02
    assert report.decision == "wait", report.reasons
    assert quality.needed and quality.needed > 300
    assert any("more labelled rows" in r for r in report.reasons)


def test_labels_enough_to_rule_out_the_drop_promote_an_equally_good_candidate():
    rows = both(
        logged(6000, "champion", wrong=0.15),
        logged(6000, "canary", seed=1, start=6000, wrong=0.15),
    )
    report = judge(rows, labels=labels_of(rows), policy=CanaryPolicy(window_seconds=600))
    quality = quality_comparison(report)
    assert quality.ok and quality.bound <= 0.02 and quality.spread > 0
    assert report.decision == "promote", report.reasons


def test_past_its_deadline_an_undecided_canary_is_aborted():
    rows = both(
        logged(150, "champion", wrong=0.15), logged(150, "canary", seed=1, start=150, wrong=0.15)
    )
    policy = CanaryPolicy(window_seconds=600, deadline_seconds=800)
    report = judge(rows, labels=labels_of(rows), policy=policy)
    assert report.decision == "abort" and "deadline" in report.reasons[0]
    early = judge(rows, labels=labels_of(rows), policy=policy, now=STARTED + timedelta(seconds=700))
    assert early.decision == "wait"


def test_labels_configured_but_not_arrived_keep_the_canary_waiting():
    rows = both(logged(800, "champion"), logged(200, "canary", seed=1, start=800))
    report = judge_canary(
        rows.drop(columns=["y"]),
        STATE,
        POLICY,
        task="binary",
        metric="roc_auc",
        labels=None,
        labels_expected=True,
        now=LATER,
    )
    quality = quality_comparison(report)
    assert quality.value is None and quality.undecided and quality.needed == 40
    assert report.decision == "wait"
    assert any("at least 20 labelled rows" in r for r in report.reasons)


def test_a_candidate_with_other_probabilities_but_the_same_class_mix_is_aborted():
    candidate = logged(400, "canary", seed=1, start=800)
    # the same predicted classes, with far less confidence
    candidate["probabilities"] = [
        {"0": 1 - (0.5 + 0.2 * (p["1"] - 0.5)), "1": 0.5 + 0.2 * (p["1"] - 0.5)}
        for p in candidate["probabilities"]
    ]
    report = judge(both(logged(800, "champion"), candidate))
    mix = next(c for c in report.comparisons if c.key == "prediction_distance")
    assert mix.ok and mix.value < 0.1
    assert report.decision == "abort"
    assert any("probability distribution distance" in r for r in report.reasons)


def test_the_report_stores_the_figures_and_limits_to_judge_each_comparison_again():
    rows = both(
        logged(6000, "champion", wrong=0.15),
        logged(6000, "canary", seed=1, start=6000, wrong=0.15),
    )
    stored = judge(rows, labels=labels_of(rows)).to_dict()
    assert stored["policy"]["max_quality_drop"] == 0.02 and stored["confidence"] == 0.95
    keys = {c["key"] for c in stored["comparisons"]}
    assert keys == {
        "error_rate_increase",
        "p99_ratio",
        "prediction_distance",
        "probability_distance",
        "quality_drop",
    }
    for c in stored["comparisons"]:
        assert c["bound"] is not None and c["ok"] == (c["bound"] <= c["limit"])
    assert stored["candidate"]["quality_spread"] > 0 and stored["champion"]["labelled"] == 6000


def near_certain(rows: pd.DataFrame, decades: tuple[float, float], seed: int) -> pd.DataFrame:
    """`rows` with near-certain probabilities, as a many-class model gives most classes: each
    row's probability of its label `y` is 1 - 10**u, u uniform in `decades` (log10), the other
    class's is 10**u."""
    rng = np.random.default_rng(seed)
    tiny = 10.0 ** rng.uniform(*decades, len(rows))
    score = np.where(rows["y"] == 1, 1 - tiny, tiny)
    rows = rows.copy()
    rows["probabilities"] = [{"0": 1 - s, "1": s} for s in score]
    rows["prediction"] = (score >= 0.5).astype(int)
    return rows


def test_a_candidate_that_differs_only_in_near_zero_probabilities_is_promoted():
    # the champion gives the other class 1e-6 to 1e-3, the candidate 1e-9 to 1e-6: no row's
    # probability moves by a thousandth, but ranked, the two distributions barely overlap
    champion = near_certain(logged(800, "champion"), (-6, -3), seed=2)
    candidate = near_certain(logged(400, "canary", seed=1, start=800), (-9, -6), seed=3)
    report = judge(both(champion, candidate))
    probabilities = next(c for c in report.comparisons if c.key == "probability_distance")
    assert probabilities.ok and probabilities.value < 0.1, probabilities.detail
    assert report.decision == "promote", report.reasons
