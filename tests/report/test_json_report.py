"""report.json: strict JSON in the documented format, validated by its own schema."""

from __future__ import annotations

import copy
import json
import math

import jsonschema
import numpy as np
import pytest

from keel import rubric
from keel.report import json_report
from keel.report.json_report import load_schema, render_json, to_json_dict, write_json


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


def _reject_constant(name: str) -> None:
    raise AssertionError(f"report.json holds the non-standard constant {name}")


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_written_report_validates_against_the_schema(run_result, tmp_path):
    path = write_json(run_result, tmp_path / "report.json")
    report = json.loads(path.read_text("utf-8"), parse_constant=_reject_constant)
    _validator().validate(report)


def test_schema_lists_the_rubric_practices_in_order():
    prefix = load_schema()["properties"]["practices"]["prefixItems"]
    ids = [item["properties"]["id"]["const"] for item in prefix]
    sections = [item["properties"]["section"]["const"] for item in prefix]
    assert ids == list(rubric.PRACTICE_IDS)
    assert sections == [p.section for p in rubric.PRACTICES]


def test_schema_enumerates_every_status_and_band():
    defs = load_schema()["$defs"]
    assert defs["status"]["enum"] == [
        "pass",
        "fail",
        "attested",
        "not_configured",
        "error",
        "left_out",
    ]
    bands = load_schema()["properties"]["score"]["properties"]["band"]["properties"]["name"]
    assert bands["enum"] == [name for _, name, _ in rubric.BANDS]


def _drop_score(r):
    del r["score"]


def _bad_status(r):
    r["practices"][0]["status"] = "maybe"


def _27_practices(r):
    r["practices"].pop()


def _out_of_order(r):
    r["practices"][0], r["practices"][1] = r["practices"][1], r["practices"][0]


def _wrong_section(r):
    r["practices"][0]["section"] = "model"


def _future_version(r):
    r["schema_version"] = 2


def _missing_section_score(r):
    del r["score"]["sections"]["infra"]


def _score_above_seven(r):
    r["score"]["final"] = 8


def _pie_chart(r):
    next(p for p in r["practices"] if p["figures"])["figures"][0]["kind"] = "pie"


def _two_points(r):
    r["practices"][0]["points"] = 2


def _unknown_key(r):
    r["practices"][0]["colour"] = "green"


def _text_for_number(r):
    r["duration_s"] = "42.5"


@pytest.mark.parametrize(
    "breakage",
    [
        _drop_score,
        _bad_status,
        _27_practices,
        _out_of_order,
        _wrong_section,
        _future_version,
        _missing_section_score,
        _score_above_seven,
        _pie_chart,
        _two_points,
        _unknown_key,
        _text_for_number,
    ],
)
def test_broken_report_does_not_validate(run_result, breakage):
    report = json.loads(render_json(run_result))
    broken = copy.deepcopy(report)
    breakage(broken)
    assert not _validator().is_valid(broken)
    assert _validator().is_valid(report)


def test_nan_numpy_and_dates_become_plain_json(run_result):
    report = json.loads(render_json(run_result), parse_constant=_reject_constant)
    practices = {p["id"]: p for p in report["practices"]}
    slices = practices["model.6"]["tables"][0]["rows"]
    assert slices[3] == ["age_band=18-25", 150, None, None]
    baselines = practices["model.5"]["tables"][0]["rows"]
    assert baselines[1][1] == pytest.approx(0.7712)
    assert type(baselines[2][1]) is float
    assert practices["model.2"]["facts"]["date"] == "2026-10-30"
    assert practices["data.2"]["facts"]["features"] == 6
    assert practices["data.2"]["figures"][0]["values"][-1] is None


def test_non_finite_numbers_never_reach_the_file(run_result, evidence_of):
    evidence = evidence_of(run_result, "data.1")
    evidence.thresholds = {"limit": float("inf"), "arr": np.array([1.0, np.nan])}
    evidence.facts = {"neg": -math.inf, "nat": np.datetime64("NaT"), "other": object()}
    text = render_json(run_result)
    report = json.loads(text, parse_constant=_reject_constant)
    practice = report["practices"][0]
    assert practice["thresholds"] == {"limit": None, "arr": [1.0, None]}
    assert practice["facts"]["neg"] is None and practice["facts"]["nat"] is None
    assert practice["facts"]["other"].startswith("<object object")
    _validator().validate(report)


def test_report_lists_all_practices_in_rubric_order_with_the_score(run_result):
    report = to_json_dict(run_result)
    assert report["schema_version"] == json_report.SCHEMA_VERSION == 1
    assert [p["id"] for p in report["practices"]] == list(rubric.PRACTICE_IDS)
    assert report["score"]["final"] == 3.5
    assert report["score"]["band"]["name"] == "strong"
    assert report["score"]["sections"] == {"data": 3.5, "model": 4.5, "infra": 3.5, "monitor": 4}
    assert report["score"]["literal"] == {
        "final": 4.5,
        "sections": {"data": 4.5, "model": 5.5, "infra": 4.5, "monitor": 5},
    }
    assert report["system"] == {"name": "credit-default", "root": "/home/ana/credit"}
    assert report["selected"] == list(rubric.PRACTICE_IDS)


def test_points_follow_the_status_not_a_stale_points_field(run_result, evidence_of):
    evidence_of(run_result, "data.2").points = 1.0  # a fail never earns a point
    practices = to_json_dict(run_result)["practices"]
    assert [p["points"] for p in practices] == [rubric.points(e) for e in run_result.evidence]


def test_written_file_equals_the_dict_and_is_strict_utf8(run_result, tmp_path):
    run_result.system = "crédit-défaut"
    path = write_json(run_result, tmp_path / "report.json")
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    assert "crédit-défaut" in raw.decode("utf-8")
    assert json.loads(raw) == to_json_dict(run_result)


def test_a_commit_outside_git_is_null(run_result):
    run_result.git_commit = None
    report = to_json_dict(run_result)
    assert report["git_commit"] is None
    _validator().validate(report)
