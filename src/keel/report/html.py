"""report.html: one self-contained page a person can open offline, mail, or attach to CI.

The page holds everything inline (CSS, SVG figures) and points at nothing outside itself:
no script, font, stylesheet or image is fetched, so it renders the same on a laptop without
network as on a CI server. The Jinja2 template is rendered with autoescaping on, and every
value from evidence goes through it as text; the only markup passed through unescaped is the
SVG that `keel.report.svg` builds, which escapes its own text. URLs found in evidence (an
attestation's link, say) are shown as text, never as links, because a report must not send
its reader to an address a check merely recorded.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from keel import rubric
from keel.atomic import write_text_atomic
from keel.evidence import BarChart, RunResult, Table
from keel.report.display import (
    STRICTNESS_NOTE,
    PracticeView,
    by_section,
    format_duration,
    format_points,
    practice_views,
)
from keel.report.svg import bar_chart_svg, section_scores_svg
from keel.report.values import format_value

MAX_TABLE_ROWS = 200
# Tables longer than this start folded (a <details> element), so the page stays scannable.
OPEN_TABLE_ROWS = 20


@dataclass(frozen=True)
class TableView:
    """An evidence table cut to at most MAX_TABLE_ROWS rows of display text."""

    title: str
    columns: list[tuple[str, bool]]  # (name, holds numbers) per column
    rows: list[list[tuple[str, bool]]]  # (text, is a number) per cell
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)

    @property
    def open(self) -> bool:
        return self.total <= OPEN_TABLE_ROWS


@dataclass(frozen=True)
class PracticeHtml:
    """What the template shows for one practice."""

    view: PracticeView
    points_text: str
    selftest: tuple[str, str] | None  # (caught | weak | not applicable, reason), when fresh
    thresholds: list[tuple[str, str]]
    facts: list[tuple[str, str]]
    tables: list[TableView]
    figures: list[Markup]
    duration: str


@dataclass(frozen=True)
class SectionHtml:
    """One section of the rubric with its score and its practices."""

    key: str
    name: str
    score: str
    literal: str
    lowest: bool
    practices: list[PracticeHtml]


def render_html(result: RunResult) -> str:
    """The run as one self-contained HTML page."""
    template = environment().get_template("report.html.j2")
    return template.render(**_context(result))


def write_html(result: RunResult, path: Path) -> Path:
    """Write report.html for the run to `path` atomically and return `path`."""
    return write_text_atomic(Path(path), render_html(result))


def environment() -> jinja2.Environment:
    """The Jinja environment of the report templates (autoescaped, strict)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("keel.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _context(result: RunResult) -> dict[str, Any]:
    score = result.score
    groups = by_section(practice_views(result))
    proven = selftest_verdicts(result)
    sections = [
        SectionHtml(
            key=key,
            name=rubric.SECTIONS[key],
            score=format_points(score.sections.get(key, 0.0)),
            literal=format_points(score.literal_sections.get(key, 0.0)),
            lowest=math.isclose(score.sections.get(key, 0.0), score.final),
            practices=[_practice(view, proven.get(view.id)) for view in views],
        )
        for key, views in groups.items()
    ]
    selected = [pid for pid in rubric.PRACTICE_IDS if pid in set(result.selected)]
    commit = result.git_commit or ""
    return {
        "system": result.system,
        "root": result.root,
        "keel_version": result.keel_version,
        "commit": commit,
        "commit_short": commit[:12],
        "started_at": _when(result.started_at),
        "started_at_iso": str(result.started_at),
        "duration": format_duration(result.duration_s),
        "final": format_points(score.final),
        "band": score.band,
        "literal_final": format_points(score.literal_final),
        "sections": sections,
        "section_chart": Markup(section_scores_svg(dict(score.sections), score.final)),
        "trend_chart": _trend(result),
        "warnings": list(result.warnings),
        "strictness_note": STRICTNESS_NOTE,
        "selected_count": len(selected),
        "practice_count": len(rubric.PRACTICE_IDS),
    }


def _trend(result: RunResult) -> Markup | None:
    """A chart of the final score over the recorded recent runs (the newest last), if any."""
    runs = [r for r in result.history if isinstance(r.get("final"), int | float)]
    if len(runs) < 2:
        return None
    chart = BarChart(
        f"Final score of the last {len(runs)} recorded runs (oldest first)",
        [f"{_when(str(r.get('started_at', '')))} {str(r.get('commit') or '')[:7]}" for r in runs],
        [float(r["final"]) for r in runs],
        x_label="final score (0–7)",
    )
    return Markup(bar_chart_svg(chart, domain=(0.0, 7.0)))


def selftest_verdicts(result: RunResult) -> dict[str, tuple[str, str]]:
    """Per practice, the verdict of the system's last `keel selftest`, when it is fresh: made
    on the system in the state this run scored (the same `System.key`: code, data,
    configuration and Keel's version). A stale or absent one shows nothing."""
    from keel.selftest.result import read

    found = read(Path(result.root) / ".keel")
    if not found or not result.system_key or found.get("system_key") != result.system_key:
        return {}
    practices = found.get("practices") or {}
    return {
        str(p): (str(v.get("verdict", "")), str(v.get("reason", "")))
        for p, v in practices.items()
        if isinstance(v, dict)
    }


def _practice(view: PracticeView, selftest: tuple[str, str] | None = None) -> PracticeHtml:
    evidence = view.evidence
    return PracticeHtml(
        view=view,
        selftest=selftest,
        points_text=f"{format_points(view.points)} point{'' if view.points == 1 else 's'}",
        thresholds=[(str(k), format_value(v)) for k, v in (evidence.thresholds or {}).items()],
        facts=[(str(k), format_value(v)) for k, v in (evidence.facts or {}).items()],
        tables=[_table(table) for table in evidence.tables],
        # The SVG builder escapes every piece of text it is given (see keel.report.svg).
        figures=[Markup(bar_chart_svg(chart)) for chart in evidence.figures],
        duration=format_duration(evidence.duration_s),
    )


def _table(table: Table) -> TableView:
    rows = [
        [(format_value(cell), _is_number(cell)) for cell in row]
        for row in table.rows[:MAX_TABLE_ROWS]
    ]
    columns = []
    for i, name in enumerate(table.columns):
        cells = [row[i] for row in rows if i < len(row) and row[i][0]]
        numeric = bool(cells) and all(number for _, number in cells)
        columns.append((str(name), numeric))
    return TableView(str(table.title), columns, rows, len(table.rows))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _when(started_at: str) -> str:
    """An ISO timestamp as 2026-11-02 09:30 UTC; the text as given when it is not ISO."""
    try:
        moment = dt.datetime.fromisoformat(str(started_at))
    except ValueError:
        return str(started_at)
    zone = moment.tzname() or ""
    if zone.startswith("UTC") and moment.utcoffset() == dt.timedelta(0):
        zone = "UTC"
    return f"{moment:%Y-%m-%d %H:%M} {zone}".strip()
