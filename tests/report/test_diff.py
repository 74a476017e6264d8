"""keel.report.diff: two report.json files compared, on reports written by Keel's own writer."""

import json

import pytest
from reports_json import write_report

from keel.errors import KeelError
from keel.report.diff import compare, load_report, render_text


def test_new_failures_come_first_then_losses_then_gains(tmp_path):
    base = write_report(
        tmp_path / "base.json",
        {"model.6": "pass", "data.1": "attested", "infra.1": "pass", "monitor.2": "fail"},
    )
    head = write_report(
        tmp_path / "head.json",
        {"model.6": "fail", "data.1": "error", "infra.1": "attested", "monitor.2": "pass"},
    )
    found = compare(load_report(base), load_report(head))
    assert [c.id for c in found.changes] == ["data.1", "model.6", "infra.1", "monitor.2"]
    assert [c.id for c in found.new_failures] == ["data.1", "model.6"]
    assert found.score_change == found.head.final - found.base.final


def test_a_practice_left_out_of_one_run_is_not_compared_and_of_both_not_mentioned(tmp_path):
    base = write_report(tmp_path / "b.json", {"data.1": "pass", "data.2": "left_out"})
    head = write_report(tmp_path / "h.json", {"data.1": "left_out", "data.2": "left_out"})
    found = compare(load_report(base), load_report(head))
    assert found.changes == []
    assert found.not_compared == ["data.1"]


def test_the_text_names_score_change_new_failures_with_hints(tmp_path):
    base = write_report(tmp_path / "b.json", {})
    head = write_report(tmp_path / "h.json", {"data.4": "fail"})
    text = render_text(compare(load_report(base), load_report(head)))
    assert "score: 7 (exceptional) -> 6 (exceptional), −1" in text
    assert "data 7 -> 6" in text
    assert (
        "new failures: 1\n  data.4 pass -> fail (−1): data.4 is fail\n    hint: fix data.4" in text
    )


def test_without_a_base_the_text_lists_what_fails(tmp_path):
    head = write_report(tmp_path / "h.json", {"model.5": "fail"})
    text = render_text(compare(None, load_report(head)))
    assert "failing: 1\n  model.5 fail: model.5 is fail" in text


def test_reports_of_two_systems_are_an_error_naming_both_files(tmp_path):
    base = write_report(tmp_path / "b.json", {}, system="credit")
    head = write_report(tmp_path / "h.json", {}, system="churn")
    with pytest.raises(KeelError, match=r"b\.json is a report of system 'credit' and .*h\.json"):
        compare(load_report(base), load_report(head))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such report"),
        ("{not json", "not JSON"),
        ('{"a": 1}', "not a Keel report"),
        ('{"schema_version": 1, "practices": [{"id": "data.1"}]}', "a required field is missing"),
        ('{"schema_version": 99, "practices": []}', "schema_version 99 is not one this Keel reads"),
    ],
)
def test_a_file_that_is_not_a_readable_report_is_an_error_naming_it(tmp_path, content, message):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KeelError, match=message) as raised:
        load_report(path)
    assert str(path) in str(raised.value)


def test_null_scores_in_a_report_read_as_zero(tmp_path):
    path = write_report(tmp_path / "r.json", {})
    data = json.loads(path.read_text())
    data["score"]["final"] = None
    path.write_text(json.dumps(data))
    assert load_report(path).final == 0.0
