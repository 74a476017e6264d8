"""report.json: one `keel score` run as versioned, strict JSON for machines.

The format is described by the JSON Schema (draft 2020-12) `report.schema.json` beside this
module; `load_schema()` returns it. Version 1:

    {
      "schema_version": 1,              # bumped on any incompatible change
      "keel_version": "0.1.0",
      "system": {"name": "credit-default", "root": "/path/to/system"},
      "git_commit": "3f2a…" | null,     # the system's commit, null outside git
      "started_at": "2026-11-02T09:30:00+00:00",   # ISO 8601
      "duration_s": 12.5 | null,
      "score": {
        "final": 2.5,                   # minimum of the section scores (Keel's reading)
        "band": {"name": "first pass", "meaning": "A first pass at …"},
        "sections": {"data": 3.5, "model": 2.5, "infra": 4, "monitor": 3},
        "literal": {"final": 4, "sections": {"data": 5, …}}   # the paper's literal count
      },
      "practices": [                    # all 28, in rubric order (data.1 … monitor.7)
        {
          "id": "data.1", "section": "data", "title": "Feature expectations are …",
          "status": "pass" | "fail" | "attested" | "not_configured" | "error" | "left_out",
          "points": 0 | 0.5 | 1,        # derived from the status, as the score is
          "summary": "one line", "hint": "how to make it pass ('' when none)",
          "thresholds": {…}, "facts": {…},   # JSON-safe values, keys as the check named them
          "tables": [{"title": …, "columns": [...], "rows": [[...], ...]}],
          "figures": [{"kind": "bar", "title": …, "labels": [...], "values": [...],
                       "x_label": …, "reference": {"name": value}, "flagged": [bool, ...]}],
          "duration_s": 0.8 | null
        }, …
      ],
      "selected": ["data.1", …]         # the practices this run checked
      "history": [{started_at, final, sections, commit, run_id}, …]  # recent runs, oldest first
      "warnings": ["…"]                  # e.g. the score history could not be recorded
    }

Values are made JSON-safe by `keel.report.values.json_safe`: NumPy scalars become numbers,
NaN and infinities become null, dates become ISO strings and anything else becomes a string,
so the file is strict JSON (no NaN literal) that any parser reads.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from keel.atomic import write_text_atomic
from keel.evidence import BarChart, RunResult, Table
from keel.report.display import PracticeView, practice_views
from keel.report.values import JsonValue, json_safe

SCHEMA_VERSION = 1


def to_json_dict(result: RunResult) -> dict[str, Any]:
    """The run as a dict of plain JSON values, in the documented version-1 format."""
    score = result.score
    return {
        "schema_version": SCHEMA_VERSION,
        "keel_version": str(result.keel_version),
        "system": {"name": str(result.system), "root": str(result.root)},
        "git_commit": None if result.git_commit is None else str(result.git_commit),
        "started_at": json_safe(result.started_at),
        "duration_s": _number(result.duration_s),
        "score": {
            "final": _number(score.final),
            "band": {"name": score.band.name, "meaning": score.band.meaning},
            "sections": {k: _number(v) for k, v in score.sections.items()},
            "literal": {
                "final": _number(score.literal_final),
                "sections": {k: _number(v) for k, v in score.literal_sections.items()},
            },
        },
        "practices": [_practice(view) for view in practice_views(result)],
        "selected": [str(pid) for pid in result.selected],
        "history": [json_safe(run) for run in result.history],
        "warnings": [str(w) for w in result.warnings],
    }


def render_json(result: RunResult) -> str:
    """The run as report.json text: strict JSON, UTF-8, indented, with a final newline."""
    return json.dumps(to_json_dict(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(result: RunResult, path: Path) -> Path:
    """Write report.json for the run to `path` atomically and return `path`."""
    return write_text_atomic(Path(path), render_json(result))


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of report.json, as shipped with Keel."""
    text = resources.files("keel.report").joinpath("report.schema.json").read_text("utf-8")
    return json.loads(text)


def _practice(view: PracticeView) -> dict[str, Any]:
    evidence = view.evidence
    return {
        "id": view.id,
        "section": view.practice.section,
        "title": view.practice.title,
        "status": evidence.status,
        "points": view.points,
        "summary": str(evidence.summary),
        "hint": str(evidence.hint or ""),
        "thresholds": _object(evidence.thresholds),
        "facts": _object(evidence.facts),
        "tables": [_table(table) for table in evidence.tables],
        "figures": [_figure(figure) for figure in evidence.figures],
        "duration_s": _number(evidence.duration_s),
    }


def _table(table: Table) -> dict[str, Any]:
    return {
        "title": str(table.title),
        "columns": [str(c) for c in table.columns],
        "rows": [[json_safe(cell) for cell in row] for row in table.rows],
    }


def _figure(chart: BarChart) -> dict[str, Any]:
    return {
        "kind": "bar",
        "title": str(chart.title),
        "labels": [str(label) for label in chart.labels],
        "values": [_number(v) for v in chart.values],
        "x_label": str(chart.x_label),
        "reference": {str(k): _number(v) for k, v in chart.reference.items()},
        "flagged": [bool(f) for f in chart.flagged],
    }


def _object(mapping: dict[str, Any] | None) -> dict[str, JsonValue]:
    return {str(k): json_safe(v) for k, v in (mapping or {}).items()}


def _number(value: Any) -> float | int | None:
    """A number for a numeric field: null when missing or not finite (never a string)."""
    safe = json_safe(value)
    if isinstance(safe, bool) or not isinstance(safe, int | float):
        return None
    return safe
