"""junit.xml: one suite per section, one case per practice, counts that add up."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from keel import rubric
from keel.report.junit import render_junit, write_junit

SUITES = ["keel.data", "keel.model", "keel.infra", "keel.monitor"]


def _root(result) -> ET.Element:
    return ET.fromstring(render_junit(result))


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name").split(" ")[0]: case for case in root.iter("testcase")}


def test_written_file_parses_as_xml(run_result, tmp_path):
    path = write_junit(run_result, tmp_path / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert path.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_one_suite_per_section_and_one_case_per_practice(run_result):
    root = _root(run_result)
    assert [s.get("name") for s in root.findall("testsuite")] == SUITES
    assert list(_cases(root)) == list(rubric.PRACTICE_IDS)
    for suite in root.findall("testsuite"):
        assert {c.get("classname") for c in suite.iter("testcase")} == {suite.get("name")}
        assert len(suite.findall("testcase")) == 7


def test_case_names_hold_id_and_title(run_result):
    case = _cases(_root(run_result))["model.6"]
    assert case.get("name") == "model.6 Model quality is sufficient on all important data slices"
    assert case.get("classname") == "keel.model"
    assert case.get("time") == "0.950"


def test_counts_match_the_statuses(run_result):
    root = _root(run_result)
    statuses = Counter(e.status for e in run_result.evidence)
    assert root.get("tests") == "28"
    assert root.get("failures") == str(statuses["fail"])
    assert root.get("errors") == str(statuses["error"])
    assert root.get("skipped") == str(statuses["not_configured"])
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(sum(c.find("failure") is not None for c in cases))
        assert suite.get("errors") == str(sum(c.find("error") is not None for c in cases))
        assert suite.get("skipped") == str(sum(c.find("skipped") is not None for c in cases))
    totals = {
        k: sum(int(s.get(k)) for s in root.findall("testsuite")) for k in ("tests", "failures")
    }
    assert totals == {"tests": 28, "failures": statuses["fail"]}


def test_each_status_maps_to_its_junit_outcome(run_result, evidence_of):
    cases = _cases(_root(run_result))
    failure = cases["data.2"].find("failure")
    assert failure.get("message") == evidence_of(run_result, "data.2").summary
    assert failure.text == evidence_of(run_result, "data.2").hint
    error = cases["data.5"].find("error")
    assert error.get("message").startswith("The check could not run")
    assert error.text == evidence_of(run_result, "data.5").hint
    skipped = cases["data.3"].find("skipped")
    e = evidence_of(run_result, "data.3")
    assert skipped.get("message") == f"{e.summary} {e.hint}"
    for passing in ("data.1", "data.6"):  # pass and attested
        case = cases[passing]
        assert [child.tag for child in case] == ["system-out"]
        assert case.find("system-out").text == evidence_of(run_result, passing).summary


def test_suite_properties_carry_the_section_score(run_result):
    suite = _root(run_result).find("testsuite[@name='keel.data']")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["section_score"] == "3.5"
    assert props["system"] == "credit-default"


def test_characters_xml_forbids_do_not_break_the_file(run_result, evidence_of):
    evidence_of(run_result, "data.2").summary = "bad \x1b[31mred\x1b[0m \x00 <&> text"
    case = _cases(_root(run_result))["data.2"]
    assert case.find("failure").get("message") == "bad [31mred[0m  <&> text"


def test_missing_or_odd_durations_count_as_zero(run_result, evidence_of):
    evidence_of(run_result, "data.1").duration_s = float("nan")
    evidence_of(run_result, "data.2").duration_s = -3
    cases = _cases(_root(run_result))
    assert cases["data.1"].get("time") == cases["data.2"].get("time") == "0.000"
