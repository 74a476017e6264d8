import json

import pytest
from ui_reports import report

from keel.ui.payload import PayloadError, _fallback, champion_of, check, envelope


def test_the_envelope_names_the_system_commit_and_champion_the_run_saw():
    sent = envelope(report("credit", commit="abc"), kind="monitor", team="risk", owner="ana")
    assert (sent["system"], sent["commit"], sent["registry_version"]) == ("credit", "abc", 2)
    assert (sent["team"], sent["owner"], sent["kind"]) == ("risk", "ana", "monitor")
    assert champion_of(report(champion=None, canary=None)) is None
    checked = check(json.dumps(sent).encode())
    assert checked.run_at.isoformat() == "2026-11-02T09:30:00+00:00"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["report"]["score"].update(final=9), "report.score.final"),
        (lambda b: b["report"].update(started_at="yesterday"), "report.started_at"),
        (lambda b: b.update(kind="audit"), "kind"),
        (lambda b: b.update(registry_version=-1), "registry_version"),
        (lambda b: b.update(team="x" * 201), "team"),
        (lambda b: b["report"]["system"].update(name="y" * 201), "report.system.name"),
    ],
)
def test_a_bad_field_is_refused_by_name(change, field):
    body = envelope(report("credit"), kind="score")
    change(body)
    with pytest.raises(PayloadError) as info:
        check(json.dumps(body).encode())
    assert info.value.field == field


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"\xff", "body"), (b"[1", "body"), (b'{"a": NaN}', "body"), (b'"\\ud800"', "body")],
)
def test_bodies_that_are_not_strict_json_are_400(body, field):
    with pytest.raises(PayloadError) as info:
        check(body)
    assert (info.value.field, info.value.status) == (field, 400)


def test_without_jsonschema_the_report_is_checked_as_keel_diff_reads_it():
    good = report("credit")
    _fallback(good)
    good["practices"][2]["status"] = "maybe"
    with pytest.raises(PayloadError, match="report.practices\\[2\\].status"):
        _fallback(good)
    with pytest.raises(PayloadError, match="not a Keel report"):
        _fallback({"schema_version": 1})
