"""Shared naming: practice order, status labels, points and durations."""

from __future__ import annotations

import pytest

from keel import rubric
from keel.evidence import STATUSES
from keel.report.display import (
    STATUS_LABELS,
    by_section,
    format_duration,
    format_points,
    practice_views,
)


def test_every_status_has_a_label():
    assert set(STATUS_LABELS) == set(STATUSES)


def test_views_follow_rubric_order_whatever_the_evidence_order(run_result):
    run_result.evidence.reverse()
    assert [v.id for v in practice_views(run_result)] == list(rubric.PRACTICE_IDS)


def test_views_group_into_the_four_sections(run_result):
    groups = by_section(practice_views(run_result))
    assert list(groups) == list(rubric.SECTIONS)
    assert all(len(views) == 7 for views in groups.values())


def test_points_shown_add_up_to_the_section_scores(run_result):
    for section, views in by_section(practice_views(run_result)).items():
        assert sum(v.points for v in views) == run_result.score.sections[section]


@pytest.mark.parametrize(("value", "text"), [(0, "0"), (0.5, "0.5"), (1.0, "1"), (3.5, "3.5")])
def test_points_print_without_trailing_zeros(value, text):
    assert format_points(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.423, "0.42 s"), (4.25, "4.2 s"), (42.5, "42 s"), (185, "3 min 5 s"), (float("nan"), "0 s")],
)
def test_durations_read_naturally(seconds, text):
    assert format_duration(seconds) == text
