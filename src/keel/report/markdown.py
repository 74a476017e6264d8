"""The pull-request comment: a short Markdown summary of a run, against a base run when given.

    <!-- keel-score -->
    ### Keel: ML Test Score 2.5 (first pass), −0.5 from main
    | section | base | head | change |         (with a base run; without: the four scores)
    **New failures (1)**                      practices that held and now fail, with the hint
    | practice | was | now | evidence |
    **Other changes (2)**                     the rest of the changed practices, losses first
    **Failing (3)**                           without a base run: what fails now
    [HTML report](URL)

The first line is the hidden marker `MARKER`, by which the GitHub Action and the GitLab
template find the comment they wrote before and update it instead of adding another.
"""

from __future__ import annotations

from keel.report.diff import PracticeState, RunDiff, StatusChange, signed
from keel.report.display import STATUS_LABELS
from keel.report.values import format_number

MARKER = "<!-- keel-score -->"
MAX_CELL = 240  # characters of evidence shown in one table cell


def render_markdown(diff: RunDiff, *, report_url: str | None = None, base_name: str = "") -> str:
    """The run (and its change from the base run) as a pull-request comment in Markdown.

    `report_url` is the link to the HTML report (none when empty); `base_name` names the base
    run in the heading (e.g. the base branch), else "the base run"."""
    head, base = diff.head, diff.base
    title = f"### Keel: ML Test Score {format_number(head.final)} ({head.band})"
    if base is not None:
        change = head.final - base.final
        title += (
            f", {signed(change)} from {base_name or 'the base run'} ({format_number(base.final)})"
        )
    lines = [MARKER, title, ""]
    if base is None:
        lines += ["| section | score |", "| --- | --- |"]
        lines += [f"| {name} | {format_number(v)} |" for name, v in head.sections.items()]
    else:
        lines += ["| section | base | head | change |", "| --- | --- | --- | --- |"]
        for name, value in head.sections.items():
            before = base.sections.get(name, 0.0)
            lines.append(
                f"| {name} | {format_number(before)} | {format_number(value)} | "
                f"{signed(value - before)} |"
            )
    lines.append("")
    if base is not None:
        news = diff.new_failures
        others = [c for c in diff.changes if not c.new_failure]
        if not diff.changes:
            lines += ["No practice changed status.", ""]
        if news:
            lines += [f"**New failures ({len(news)})**", ""]
            lines += _changes_table(news, hint=True)
        if others:
            lines += [f"**Other changes ({len(others)})**", ""]
            lines += _changes_table(others, hint=False)
        if diff.not_compared:
            lines += [f"Not compared (left out of one run): {', '.join(diff.not_compared)}.", ""]
    elif diff.failing:
        lines += [f"**Failing ({len(diff.failing)})**", ""]
        lines += _failing_table(diff.failing)
    if report_url:
        lines.append(f"[HTML report]({report_url})")
    return "\n".join(lines).rstrip("\n") + "\n"


def _changes_table(changes: list[StatusChange], *, hint: bool) -> list[str]:
    rows = ["| practice | was | now | evidence |", "| --- | --- | --- | --- |"]
    for c in changes:
        evidence = c.after.summary + (f" — {c.after.hint}" if hint and c.after.hint else "")
        rows.append(
            f"| {_practice(c.after)} | {_status(c.before.status)} | {_status(c.after.status)} "
            f"| {_cell(evidence)} |"
        )
    return [*rows, ""]


def _failing_table(states: list[PracticeState]) -> list[str]:
    rows = ["| practice | status | evidence |", "| --- | --- | --- |"]
    for s in states:
        evidence = s.summary + (f" — {s.hint}" if s.hint else "")
        rows.append(f"| {_practice(s)} | {_status(s.status)} | {_cell(evidence)} |")
    return [*rows, ""]


def _practice(state: PracticeState) -> str:
    return f"`{state.id}` {_cell(state.title)}"


def _status(status: str) -> str:
    return STATUS_LABELS.get(status, status)  # type: ignore[call-overload]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped, HTML not interpreted."""
    one_line = " ".join(str(text).split())
    if len(one_line) > MAX_CELL:
        one_line = one_line[: MAX_CELL - 1].rstrip() + "…"
    return one_line.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
