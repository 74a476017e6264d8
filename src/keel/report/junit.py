"""junit.xml: the run as JUnit XML, so any CI server shows each practice as a test.

    <testsuites name="keel" tests=28 failures=… errors=… skipped=… time=…>
      <testsuite name="keel.data" …>          one suite per rubric section, rubric order
        <testcase classname="keel.data" name="data.1 Feature expectations …" time="0.412">
          pass, attested      <system-out>summary</system-out>
          fail                <failure message="summary">hint</failure>
          error               <error message="summary">hint</error>
          not_configured      <skipped message="summary hint"/>
          left_out            <skipped message="summary"/>

An attested practice is a passing test case: it holds, documented by hand. The counts on every
suite and on the root are computed from the same statuses, so they always add up.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from keel.atomic import write_bytes_atomic
from keel.evidence import RunResult
from keel.report.display import PracticeView, by_section, format_points, practice_views
from keel.report.values import xml_text


def junit_tree(result: RunResult) -> ET.ElementTree:
    """The run as a JUnit XML element tree: one suite per section, one case per practice."""
    root = ET.Element("testsuites", name="keel")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for section, views in by_section(practice_views(result)).items():
        suite = ET.SubElement(root, "testsuite", name=f"keel.{section}")
        if result.started_at:
            suite.set("timestamp", xml_text(result.started_at))
        properties = ET.SubElement(suite, "properties")
        _property(properties, "system", result.system)
        _property(properties, "keel_version", result.keel_version)
        _property(properties, "git_commit", result.git_commit or "")
        _property(
            properties, "section_score", format_points(result.score.sections.get(section, 0.0))
        )
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        for view in views:
            seconds = _seconds(view.evidence.duration_s)
            suite_time += seconds
            counts["tests"] += 1
            kind = _add_case(suite, section, view, seconds)
            if kind:
                counts[kind] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{suite_time:.3f}")
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def render_junit(result: RunResult) -> bytes:
    """The run as junit.xml bytes, UTF-8 with an XML declaration and a final newline."""
    root = junit_tree(result).getroot()
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(result: RunResult, path: Path) -> Path:
    """Write junit.xml for the run to `path` atomically and return `path`."""
    return write_bytes_atomic(Path(path), render_junit(result))


def _add_case(suite: ET.Element, section: str, view: PracticeView, seconds: float) -> str:
    """Add one practice's test case; return the count it adds to ('' for a passing case)."""
    evidence = view.evidence
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"keel.{section}",
        name=xml_text(f"{view.id} {view.practice.title}"),
        time=f"{seconds:.3f}",
    )
    summary, hint = xml_text(evidence.summary), xml_text(evidence.hint or "")
    if evidence.status == "fail":
        ET.SubElement(case, "failure", message=summary, type="fail").text = hint
        return "failures"
    if evidence.status == "error":
        ET.SubElement(case, "error", message=summary, type="error").text = hint
        return "errors"
    if evidence.status in ("not_configured", "left_out"):
        ET.SubElement(case, "skipped", message=f"{summary} {hint}".strip())
        return "skipped"
    ET.SubElement(case, "system-out").text = summary
    return ""


def _property(properties: ET.Element, name: str, value: object) -> None:
    ET.SubElement(properties, "property", name=name, value=xml_text(value))


def _seconds(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0
