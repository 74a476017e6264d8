"""write_reports and the public API of keel.report."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

import keel.report
from keel.report import REPORT_FILES, write_reports


def test_public_api_is_exactly_this():
    assert keel.report.__all__ == [
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
    assert keel.report.__all__ == sorted(keel.report.__all__)
    for name in keel.report.__all__:
        assert hasattr(keel.report, name)


def test_writes_three_reports_into_a_new_folder(run_result, tmp_path):
    out = tmp_path / "nested" / ".keel"
    paths = write_reports(run_result, out)
    assert paths == {kind: out / name for kind, name in REPORT_FILES.items()}
    assert sorted(os.listdir(out)) == ["junit.xml", "report.html", "report.json"]
    json.loads(paths["json"].read_text("utf-8"))
    ET.parse(paths["junit"])
    assert paths["html"].read_text("utf-8").startswith("<!doctype html>")


def test_rewriting_leaves_no_temporary_files(run_result, tmp_path):
    write_reports(run_result, tmp_path)
    run_result.system = "second run"
    write_reports(run_result, tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["junit.xml", "report.html", "report.json"]
    assert "second run" in (tmp_path / "report.json").read_text("utf-8")


def test_a_rendering_error_leaves_the_previous_reports_untouched(run_result, tmp_path):
    write_reports(run_result, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    run_result.evidence[-1].practice = "monitor.99"
    with pytest.raises(ValueError, match="monitor.99"):
        write_reports(run_result, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_text_that_is_not_valid_unicode_does_not_lose_the_reports(run_result, tmp_path):
    run_result.evidence[0].summary = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    paths = write_reports(run_result, tmp_path)
    assert "caf?" in paths["json"].read_text("utf-8")
    assert "caf" in paths["html"].read_text("utf-8")
    ET.parse(paths["junit"])
