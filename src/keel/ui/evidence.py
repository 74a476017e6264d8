"""One published practice's evidence (a report.json entry) as display data for the run page.

The same reading as the HTML report's (`keel.report.html`): values shown through
`format_value`, tables cut to MAX_TABLE_ROWS rows, bar charts drawn by `keel.report.svg`, which
escapes its own text; everything else reaches the page through the autoescaping templates.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from keel.evidence import BarChart
from keel.report.display import NEEDS_HINT, STATUS_LABELS, anchor
from keel.report.svg import bar_chart_svg
from keel.report.values import format_value

MAX_TABLE_ROWS = 200


@dataclass(frozen=True)
class TableView:
    title: str
    columns: list[str]
    rows: list[list[tuple[str, bool]]]  # (text, is a number)
    total: int


@dataclass(frozen=True)
class PracticeView:
    id: str
    anchor: str
    section: str
    title: str
    status: str
    status_label: str
    summary: str
    hint: str
    thresholds: list[tuple[str, str]]
    facts: list[tuple[str, str]]
    tables: list[TableView]
    figures: list[Markup]


def practice_view(item: dict[str, Any]) -> PracticeView:
    """A report.json practice entry (already checked against the schema) for display."""
    status = str(item["status"])
    return PracticeView(
        id=str(item["id"]),
        anchor=anchor(str(item["id"])),
        section=str(item["section"]),
        title=str(item["title"]),
        status=status,
        status_label=STATUS_LABELS.get(status, status),  # type: ignore[call-overload]
        summary=str(item["summary"]),
        hint=str(item["hint"]) if status in NEEDS_HINT else "",
        thresholds=[(str(k), format_value(v)) for k, v in item["thresholds"].items()],
        facts=[(str(k), format_value(v)) for k, v in item["facts"].items()],
        tables=[_table(t) for t in item["tables"]],
        figures=[Markup(bar_chart_svg(_chart(f))) for f in item["figures"]],
    )


def _table(table: dict[str, Any]) -> TableView:
    rows = [
        [(format_value(cell), _is_number(cell)) for cell in row]
        for row in table["rows"][:MAX_TABLE_ROWS]
    ]
    return TableView(
        str(table["title"]), [str(c) for c in table["columns"]], rows, len(table["rows"])
    )


def _chart(figure: dict[str, Any]) -> BarChart:
    return BarChart(
        str(figure["title"]),
        [str(label) for label in figure["labels"]],
        list(figure["values"]),
        x_label=str(figure["x_label"]),
        reference=dict(figure["reference"]),
        flagged=[bool(f) for f in figure["flagged"]],
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
