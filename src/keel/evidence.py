"""Evidence: what one practice's check found, as plain data for checks, scoring and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "attested", "not_configured", "error", "left_out"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "attested", "not_configured", "error", "left_out")


@dataclass
class Table:
    """A small table of evidence: column names and rows of plain values."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class BarChart:
    """A horizontal bar chart: one bar per label, with optional reference lines."""

    title: str
    labels: list[str]
    values: list[float]
    x_label: str = ""
    reference: dict[str, float] = field(default_factory=dict)
    flagged: list[bool] = field(default_factory=list)


Figure = BarChart


@dataclass
class Evidence:
    """The outcome of one practice's check.

    `points` is not set by checks: scoring derives it from the status (see `keel.rubric`).
    """

    practice: str
    status: Status
    summary: str
    hint: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    thresholds: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    points: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Evidence status must be one of {STATUSES}. Got {self.status!r}.")


def not_configured(practice: str, summary: str, hint: str) -> Evidence:
    """Evidence for a practice whose check lacks the configuration it needs."""
    return Evidence(practice, "not_configured", summary, hint=hint)


@dataclass
class RunResult:
    """One `keel score` run: evidence for all 28 practices (rubric order) and the score.

    Practices left out of the run (`--only`, `--section`) carry `left_out` evidence;
    `selected` lists the practices that were run.
    """

    system: str
    root: str
    keel_version: str
    git_commit: str | None
    started_at: str
    duration_s: float
    evidence: list[Evidence]
    score: Any  # keel.rubric.Score (kept as Any to avoid an import cycle)
    selected: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # recent runs, oldest first
    warnings: list[str] = field(default_factory=list)
    system_key: str | None = None  # System.key: what a selftest result is matched with
