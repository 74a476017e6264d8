"""What every report says the same way: practice titles, status names and points.

The terminal, HTML, JSON and JUnit writers all name a practice, a status and a score from here,
so the four reports of one run cannot disagree. A practice's points are derived from its status
with `keel.rubric.points`, the function the score itself is computed with, so the points shown
per practice always add up to the section scores shown beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from keel import rubric
from keel.evidence import Evidence, RunResult, Status
from keel.report.values import format_number

STATUS_LABELS: dict[Status, str] = {
    "pass": "Pass",
    "fail": "Fail",
    "attested": "Attested",
    "not_configured": "Not configured",
    "error": "Error",
    "left_out": "Left out",
}

# Statuses whose hint tells the user what to do next; a passing or attested practice needs none.
NEEDS_HINT: frozenset[Status] = frozenset({"fail", "not_configured", "error"})

STRICTNESS_NOTE = (
    "Keel counts a practice only when its check passes; the paper counts an automated test "
    "whether or not it passes (its literal count)."
)


@dataclass(frozen=True)
class PracticeView:
    """One practice's evidence joined with its rubric entry, ready to display."""

    practice: rubric.Practice
    evidence: Evidence
    points: float

    @property
    def id(self) -> str:
        return self.practice.id

    @property
    def anchor(self) -> str:
        """The HTML anchor of this practice: `data.1` becomes `data-1`."""
        return anchor(self.practice.id)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.evidence.status]

    @property
    def shows_hint(self) -> bool:
        return self.evidence.status in NEEDS_HINT and bool(self.evidence.hint.strip())


def anchor(practice_id: str) -> str:
    """The HTML anchor of a practice id: `data.1` becomes `data-1`."""
    return practice_id.replace(".", "-")


def practice_views(result: RunResult) -> list[PracticeView]:
    """The run's evidence in rubric order, each with its practice and its points.

    Raises ValueError naming the id when evidence carries a practice id the rubric lacks.
    """
    views = []
    for evidence in result.evidence:
        practice = rubric.BY_ID.get(evidence.practice)
        if practice is None:
            known = ", ".join(rubric.PRACTICE_IDS)
            raise ValueError(
                f"Evidence practice must be one of the rubric's ids ({known}). "
                f"Got {evidence.practice!r} instead."
            )
        views.append(PracticeView(practice, evidence, rubric.points(evidence)))
    order = {pid: i for i, pid in enumerate(rubric.PRACTICE_IDS)}
    return sorted(views, key=lambda v: order[v.id])


def by_section(views: list[PracticeView]) -> dict[str, list[PracticeView]]:
    """Views grouped by section, sections in rubric order (every section present)."""
    groups: dict[str, list[PracticeView]] = {section: [] for section in rubric.SECTIONS}
    for view in views:
        groups[view.practice.section].append(view)
    return groups


def format_points(value: float) -> str:
    """Points or a score: 0, 0.5, 1, 3.5, never 3.0."""
    return format_number(float(value))


def format_duration(seconds: float) -> str:
    """A duration as people read it: 0.42 s, 12 s, 3 min 5 s."""
    if not math.isfinite(seconds) or seconds <= 0:
        return "0 s"
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
