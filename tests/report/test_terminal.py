"""The terminal report: every practice by section, the score, and what it means."""

from __future__ import annotations

import io

from rich.console import Console

from keel import rubric
from keel.report.terminal import STATUS_STYLES, render_terminal, status_text


def _printed(result, *, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    render_terminal(result, console)
    return console.export_text()


def test_every_practice_and_section_is_printed(run_result):
    text = _printed(run_result)
    for practice in rubric.PRACTICES:
        assert practice.id in text
    for name in rubric.SECTIONS.values():
        assert name in text
    assert text.index("data.7") < text.index("model.1") < text.index("monitor.1")


def test_section_totals_and_final_score_are_printed(run_result):
    text = _printed(run_result)
    assert "3.5 / 7" in text and "4.5 / 7" in text and "4 / 7" in text
    assert "ML Test Score: 3.5" in text
    assert "strong" in text
    assert run_result.score.band.meaning in text
    assert "The paper's literal count: 4.5" in text
    assert "Keel counts a practice only when its check passes" in text


def test_hints_are_printed_for_practices_that_need_work_only(run_result, evidence_of):
    evidence_of(run_result, "data.1").hint = "PASSING-HINT"
    evidence_of(run_result, "model.2").hint = "ATTESTED-HINT"
    text = _printed(run_result, width=400)
    for practice in ("data.2", "data.3", "data.5"):
        assert evidence_of(run_result, practice).hint in text
    assert "PASSING-HINT" not in text
    assert "ATTESTED-HINT" not in text


def test_rich_markup_in_evidence_prints_as_written(run_result, evidence_of):
    evidence_of(run_result, "data.1").summary = "[bold red]not markup[/] [link=x]y[/link]"
    assert "[bold red]not markup[/] [link=x]y[/link]" in _printed(run_result, width=400)


def test_statuses_are_coloured(run_result):
    console = Console(file=io.StringIO(), width=160, force_terminal=True, color_system="standard")
    render_terminal(run_result, console)
    output = console.file.getvalue()
    assert "\x1b[1;32mPass" in output
    assert "\x1b[1;31mFail" in output
    for status, style in STATUS_STYLES.items():
        assert str(status_text(status).style) == style


def test_narrow_terminal_still_shows_every_id(run_result):
    text = _printed(run_result, width=80)
    for practice_id in rubric.PRACTICE_IDS:
        assert practice_id in text
