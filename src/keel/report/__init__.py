"""Reports of a `keel score` run: terminal, JSON, self-contained HTML, JUnit XML.

Every writer takes a `keel.evidence.RunResult` and nothing else, names practices, statuses
and points the same way (`keel.report.display`), and writes its file atomically
(`keel.atomic`). `write_reports` writes the three files a run leaves behind.
"""

from __future__ import annotations

from pathlib import Path

from keel.atomic import write_bytes_atomic, write_text_atomic
from keel.evidence import RunResult
from keel.report.html import render_html, write_html
from keel.report.json_report import (
    SCHEMA_VERSION,
    load_schema,
    render_json,
    to_json_dict,
    write_json,
)
from keel.report.junit import render_junit, write_junit
from keel.report.terminal import render_terminal

REPORT_FILES: dict[str, str] = {
    "json": "report.json",
    "html": "report.html",
    "junit": "junit.xml",
}


def write_reports(result: RunResult, out_dir: Path) -> dict[str, Path]:
    """Write report.json, report.html and junit.xml into `out_dir` (created if missing).

    All three are rendered before any is written, so a rendering error leaves the previous
    reports in place, and each file is replaced atomically. Returns the paths by kind:
    {"json": …/report.json, "html": …/report.html, "junit": …/junit.xml}.
    """
    out_dir = Path(out_dir)
    json_text, html_text, junit_xml = render_json(result), render_html(result), render_junit(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "json": write_text_atomic(out_dir / REPORT_FILES["json"], json_text),
        "html": write_text_atomic(out_dir / REPORT_FILES["html"], html_text),
        "junit": write_bytes_atomic(out_dir / REPORT_FILES["junit"], junit_xml),
    }


# Kept sorted (a test checks it), as a literal list so tools can read it.
__all__ = [
    "REPORT_FILES",
    "SCHEMA_VERSION",
    "load_schema",
    "render_html",
    "render_json",
    "render_junit",
    "render_terminal",
    "to_json_dict",
    "write_html",
    "write_json",
    "write_junit",
    "write_reports",
]
