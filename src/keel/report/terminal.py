"""The run in the terminal: a table per section, then the score and what it means.

Evidence text is put into Rich `Text` objects, never into markup strings, so a summary that
happens to contain "[red]" or "[/]" prints as written instead of being read as styling.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from keel import rubric
from keel.evidence import RunResult, Status
from keel.report.display import (
    STATUS_LABELS,
    STRICTNESS_NOTE,
    PracticeView,
    by_section,
    format_points,
    practice_views,
)

STATUS_STYLES: dict[Status, str] = {
    "pass": "bold green",
    "attested": "bold cyan",
    "fail": "bold red",
    "not_configured": "yellow",
    "error": "bold magenta",
    "left_out": "dim",
}


def status_text(status: Status) -> Text:
    """A status as coloured text: green pass, cyan attested, red fail, yellow, magenta error."""
    return Text(STATUS_LABELS[status], style=STATUS_STYLES[status])


def render_terminal(result: RunResult, console: Console) -> None:
    """Print the run to `console`: every practice by section, then the final score."""
    score = result.score
    commit = f" at {result.git_commit[:12]}" if result.git_commit else ""
    console.print(
        Text.assemble(
            ("Keel ", "bold"),
            (result.keel_version, "dim"),
            " — ",
            (result.system, "bold"),
            f"{commit} — {len(result.selected)} of 28 practices checked "
            f"in {result.duration_s:.1f} s",
        )
    )
    for section, views in by_section(practice_views(result)).items():
        console.print(
            _section_table(
                section,
                views,
                points=score.sections.get(section, 0.0),
                literal=score.literal_sections.get(section, 0.0),
            )
        )
        console.print()
    console.print(_score_block(result))


def _section_table(
    section: str, views: list[PracticeView], *, points: float, literal: float
) -> Table:
    table = Table(
        title=Text(rubric.SECTIONS[section], style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_footer=True,
        expand=True,
        pad_edge=False,
    )
    table.add_column("ID", no_wrap=True, footer="")
    table.add_column("Practice", ratio=3, footer=Text("Section total", style="bold"))
    table.add_column("Status", no_wrap=True, footer="")
    table.add_column(
        "Points", justify="right", no_wrap=True, footer=Text(f"{format_points(points)} / 7")
    )
    table.add_column(
        "Summary", ratio=5, footer=Text(f"paper's literal count {format_points(literal)}", "dim")
    )
    for view in views:
        table.add_row(
            Text(view.id, style="bold"),
            Text(view.practice.title),
            status_text(view.evidence.status),
            Text(format_points(view.points)),
            _summary(view),
        )
    return table


def _summary(view: PracticeView) -> Text:
    text = Text(view.evidence.summary)
    if view.shows_hint:
        text.append("\n")
        text.append(view.evidence.hint, style="dim")
    return text


def _score_block(result: RunResult) -> Group:
    score = result.score
    headline = Text.assemble(
        ("ML Test Score: ", "bold"),
        (format_points(score.final), "bold reverse"),
        "  ",
        (score.band.name, "bold"),
        f" — {score.band.meaning}",
    )
    sections = Text("Sections: ")
    for i, (section, points) in enumerate(score.sections.items()):
        if i:
            sections.append(" · ")
        sections.append(f"{section} {format_points(points)}")
    sections.append("  (the final score is the lowest section)", style="dim")
    literal = Text(f"The paper's literal count: {format_points(score.literal_final)}")
    return Group(headline, sections, literal, Text(STRICTNESS_NOTE, style="dim"))
