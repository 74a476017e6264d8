"""A realistic `keel score` run for the report tests, built directly from evidence.

All five statuses appear, in every section; evidence holds tables (one longer than the HTML
report shows), bar charts with reference lines and flagged bars, a NaN, NumPy scalars, a date
and an attestation's URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest

from keel import rubric
from keel.evidence import BarChart, Evidence, RunResult, Table

# The status of every practice in the fixture run, in rubric order.
STATUSES: dict[str, str] = {
    "data.1": "pass",
    "data.2": "fail",
    "data.3": "not_configured",
    "data.4": "pass",
    "data.5": "error",
    "data.6": "attested",
    "data.7": "pass",
    "model.1": "pass",
    "model.2": "attested",
    "model.3": "not_configured",
    "model.4": "pass",
    "model.5": "pass",
    "model.6": "fail",
    "model.7": "pass",
    "infra.1": "pass",
    "infra.2": "pass",
    "infra.3": "error",
    "infra.4": "fail",
    "infra.5": "pass",
    "infra.6": "not_configured",
    "infra.7": "attested",
    "monitor.1": "pass",
    "monitor.2": "pass",
    "monitor.3": "fail",
    "monitor.4": "not_configured",
    "monitor.5": "pass",
    "monitor.6": "pass",
    "monitor.7": "error",
}

ATTESTATION_URL = "https://wiki.example.com/ab-test-2026-10"


def _special(practice: str) -> dict:
    """Evidence details for the practices that carry tables, figures and odd values."""
    if practice == "data.2":
        return {
            "summary": "2 of 6 features do not help: zip_code, signup_week.",
            "hint": "Drop zip_code and signup_week from the model inputs, or show why they stay.",
            "thresholds": {"min_importance": 0.001, "max_correlation": 0.95},
            "facts": {"features": np.int64(6), "repeats": 10},
            "figures": [
                BarChart(
                    title="Permutation importance (drop in roc_auc)",
                    labels=["income", "age", "debt_ratio", "tenure", "zip_code", "signup_week"],
                    values=[0.081, 0.042, 0.037, np.float64(0.012), 0.0004, float("nan")],
                    x_label="drop in roc_auc",
                    reference={"noise level": 0.001},
                    flagged=[False, False, False, False, True, True],
                )
            ],
        }
    if practice == "model.2":
        return {
            "summary": "Attested by A. Analyst on 2026-10-30.",
            "facts": {
                "evidence": ATTESTATION_URL,
                "by": "A. Analyst",
                "date": dt.date(2026, 10, 30),
            },
        }
    if practice == "model.5":
        return {
            "summary": "The model beats the best baseline (shallow tree) by 0.061 roc_auc.",
            "thresholds": {"min_gain": 0.01},
            "tables": [
                Table(
                    title="Baselines on the evaluation data",
                    columns=["model", "roc_auc", "fit seconds"],
                    rows=[
                        ["constant", 0.5, 0.001],
                        ["logistic regression", np.float64(0.7712), 0.21],
                        ["shallow tree", np.float32(0.7804), 0.05],
                        ["model", 0.8414, 3.2],
                    ],
                )
            ],
        }
    if practice == "model.6":
        return {
            "summary": "1 of 9 slices is below the floor: region=north (roc_auc 0.64).",
            "hint": "Collect more north-region examples or raise [slices].min_metric knowingly.",
            "thresholds": {"min_size": 200, "min_metric": 0.7, "max_gap": 0.05},
            "tables": [
                Table(
                    title="Quality per slice",
                    columns=["slice", "rows", "roc_auc", "gap"],
                    rows=[
                        ["overall", 12000, 0.8414, 0.0],
                        ["region=north", 640, 0.6402, 0.2012],
                        ["region=south", 5210, 0.8533, -0.0119],
                        ["age_band=18-25", 150, float("nan"), None],
                    ],
                )
            ],
        }
    if practice == "monitor.3":
        return {
            "summary": "3 of 14 features are skewed between training and serving.",
            "hint": "Serve with the training feature code: set [model].features and redeploy.",
            "thresholds": {"max_linf": 0.1, "max_js": 0.05},
            "facts": {"skewed": ["income", "tenure", "region"], "examples_checked": 250},
            "tables": [
                Table(
                    title="Skewed examples",
                    columns=["application_id", "feature", "training", "serving"],
                    rows=[
                        [f"A-{i:05d}", "income", 1000.0 + i, 1000.0 + i * 1.1] for i in range(250)
                    ],
                )
            ],
            "figures": [
                BarChart(
                    title="Jensen-Shannon divergence per feature",
                    labels=["income", "tenure", "debt_ratio", "age"],
                    values=[0.12, 0.08, 0.01, 0.004],
                    x_label="JS divergence",
                    reference={"max_js": 0.05},
                    flagged=[True, True, False, False],
                )
            ],
        }
    return {}


def _evidence(practice: str, status: str) -> Evidence:
    title = rubric.BY_ID[practice].title
    default = {
        "pass": {"summary": f"{title}: holds."},
        "fail": {"summary": f"{title}: does not hold.", "hint": f"Fix {practice}."},
        "attested": {"summary": "Attested by B. Owner on 2026-09-01."},
        "not_configured": {
            "summary": "Not configured: keel.toml has no [canary] table.",
            "hint": "Add a [canary] table to keel.toml (see `keel init`).",
        },
        "error": {
            "summary": "The check could not run: FileNotFoundError: data/train.parquet",
            "hint": "Check that [data].train points at an existing file.",
        },
    }[status]
    details = {**default, **_special(practice)}
    evidence = Evidence(practice, status, duration_s=0.25 + len(practice) / 10, **details)
    evidence.points = rubric.points(evidence)
    return evidence


def make_run_result() -> RunResult:
    """A fresh fixture run: all 28 practices, five statuses, scored with keel.rubric."""
    evidence = [_evidence(pid, STATUSES[pid]) for pid in rubric.PRACTICE_IDS]
    return RunResult(
        system="credit-default",
        root="/home/ana/credit",
        keel_version="0.1.0",
        git_commit="3f2a9c1d5e7b8a0f4c6d2e1b9a8c7d6e5f4a3b2c",
        started_at="2026-11-02T09:30:00+00:00",
        duration_s=42.5,
        evidence=evidence,
        score=rubric.score(evidence),
        selected=list(rubric.PRACTICE_IDS),
    )


@pytest.fixture
def run_result() -> RunResult:
    """A fresh fixture run each test may change."""
    return make_run_result()


@pytest.fixture
def make_result() -> Callable[[], RunResult]:
    """The fixture run's factory, for tests that need more than one run."""
    return make_run_result


@pytest.fixture
def evidence_of() -> Callable[[RunResult, str], Evidence]:
    """Look up a practice's evidence in a run."""

    def lookup(result: RunResult, practice: str) -> Evidence:
        return next(e for e in result.evidence if e.practice == practice)

    return lookup


from browsers import browser  # noqa: E402, F401 - the fixture, for the browser tests
