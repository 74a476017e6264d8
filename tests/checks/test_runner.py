import datetime as dt

import pytest
from systems import binary_frame

from keel.checks import runner
from keel.config import Attestation
from keel.errors import KeelError
from keel.evidence import Evidence
from keel.rubric import PRACTICE_IDS

TODAY = dt.date(2026, 11, 22)


def attestation(days_old: int) -> Attestation:
    return Attestation(
        evidence="https://wiki/x", by="A. Analyst", date=TODAY - dt.timedelta(days=days_old)
    )


def test_fresh_attestation_lifts_an_unchecked_practice_to_half_a_point():
    e = runner.apply_attestation(
        Evidence("model.2", "not_configured", "none"), attestation(10), today=TODAY, max_age_days=90
    )
    assert e.status == "attested"
    assert "A. Analyst" in e.summary


def test_expired_attestation_counts_nothing_and_says_so():
    e = runner.apply_attestation(
        Evidence("model.2", "not_configured", "none"), attestation(91), today=TODAY, max_age_days=90
    )
    assert e.status == "not_configured"
    assert "expired: 91 days old, limit 90" in e.summary
    assert "renew" in e.hint


def test_attestation_never_overrules_a_failing_check():
    e = runner.apply_attestation(
        Evidence("model.5", "fail", "worse than baseline"),
        attestation(1),
        today=TODAY,
        max_age_days=90,
    )
    assert e.status == "fail"
    assert e.facts["attestation"].startswith("ignored")


def test_attestation_dated_in_the_future_does_not_count():
    e = runner.apply_attestation(
        Evidence("model.2", "not_configured", "none"), attestation(-3), today=TODAY, max_age_days=90
    )
    assert e.status == "not_configured"
    assert "in the future" in e.summary


def test_run_scores_attestations_from_keel_toml(make_system):
    attest = {"date": "2026-11-01", "by": "A. Analyst", "evidence": "doc"}
    system = make_system(
        binary_frame(300),
        sections={
            'attest."model.2"': attest,
            'attest."monitor.7"': {**attest, "date": "2026-01-01"},
        },
    )
    result = runner.run(system, only=["model.2", "monitor.7"], today=TODAY)
    by_id = {e.practice: e for e in result.evidence}
    assert by_id["model.2"].status == "attested" and by_id["model.2"].points == 0.5
    assert by_id["monitor.7"].status == "not_configured" and by_id["monitor.7"].points == 0
    assert "expired" in by_id["monitor.7"].summary
    assert result.score.sections["model"] == 0.5
    assert result.score.final == 0


def test_run_covers_all_28_practices_in_rubric_order_and_records_durations(make_system):
    system = make_system(binary_frame(300))
    result = runner.run(system, only=["model.2"], today=TODAY)
    assert [e.practice for e in result.evidence] == list(PRACTICE_IDS)
    assert result.selected == ["model.2"]
    left_out = next(e for e in result.evidence if e.practice == "data.1")
    assert "left out" in left_out.summary
    assert all(e.duration_s >= 0 for e in result.evidence)


def test_a_crashing_check_becomes_error_evidence_and_the_run_goes_on(make_system, monkeypatch):
    def boom(system):
        raise ZeroDivisionError("division by zero")

    def refuse(system):
        raise KeelError("[slices] columns: no column 'zone'")

    declared = runner.find_check
    fakes = {"model.1": boom, "model.6": refuse}
    monkeypatch.setattr(runner, "find_check", lambda p: fakes.get(p) or declared(p))
    system = make_system(binary_frame(300))
    result = runner.run(system, only=["model.1", "model.6", "model.2"], today=TODAY)
    by_id = {e.practice: e for e in result.evidence}
    assert by_id["model.1"].status == "error"
    assert by_id["model.1"].summary == "ZeroDivisionError: division by zero"
    assert by_id["model.6"].status == "error"
    assert by_id["model.6"].summary == "[slices] columns: no column 'zone'"
    assert by_id["model.2"].status == "not_configured"


def test_a_practice_without_a_check_says_how_to_attest(make_system, monkeypatch):
    declared = runner.find_check
    monkeypatch.setattr(runner, "find_check", lambda p: None if p == "monitor.6" else declared(p))
    result = runner.run(make_system(binary_frame(300)), only=["monitor.6"], today=TODAY)
    e = next(e for e in result.evidence if e.practice == "monitor.6")
    assert e.status == "not_configured"
    assert '[attest."monitor.6"]' in e.hint


def test_selection_by_section_and_by_ids():
    assert runner.select(section="infra") == [f"infra.{i}" for i in range(1, 8)]
    assert runner.select(["model.5", "data.1"]) == ["data.1", "model.5"]
    with pytest.raises(KeelError, match="unknown practice id data.8"):
        runner.select(["data.8"])
    with pytest.raises(KeelError, match="--section 'models' is not a section"):
        runner.select(section="models")


def test_second_run_reuses_evidence_of_checks_whose_inputs_did_not_change(make_system):
    system = make_system(binary_frame(1500), binary_frame(600, seed=1))
    first = runner.run(system, only=["model.5", "model.1"], today=TODAY)
    again = runner.run(system, only=["model.5", "model.1"], today=TODAY)
    by_id = {e.practice: e for e in again.evidence}
    assert by_id["model.5"].facts.get("reused_from_cache") is True
    assert "reused_from_cache" not in by_id["model.1"].facts  # git state is read every time
    assert (
        by_id["model.5"].summary
        == next(e for e in first.evidence if e.practice == "model.5").summary
    )


def test_changed_thresholds_are_not_served_from_the_evidence_cache(make_system, tmp_path):
    from keel.system import System

    system = make_system(binary_frame(1500), binary_frame(600, seed=1))
    runner.run(system, only=["model.5"], today=TODAY)
    text = system.config_file.read_text() + "\n[baseline]\nmin_gain = 0.5\n"
    system.config_file.write_text(text)
    changed = System.from_path(system.config_file)
    e = next(
        e
        for e in runner.run(changed, only=["model.5"], today=TODAY).evidence
        if e.practice == "model.5"
    )
    assert "reused_from_cache" not in e.facts
    assert e.status == "fail"


def test_attestation_never_lifts_a_crashed_check():
    e = runner.apply_attestation(
        Evidence("data.2", "error", "ZeroDivisionError: boom"),
        attestation(1),
        today=TODAY,
        max_age_days=90,
    )
    assert e.status == "error"
    assert "crashed" in e.facts["attestation"]
    from keel.rubric import points

    assert points(e) == 0


def test_practices_left_out_by_only_are_left_out_not_unconfigured(make_system):
    system = make_system(binary_frame(600), binary_frame(300, seed=1))
    result = runner.run(system, only=["model.5"], today=TODAY)
    by_id = {e.practice: e for e in result.evidence}
    assert by_id["model.5"].status in ("pass", "fail")
    assert by_id["data.1"].status == "left_out" and by_id["data.1"].points == 0
    assert by_id["monitor.1"].status == "left_out"


def test_rows_the_model_raises_on_are_reported_once_and_noted_on_each_check(tmp_path):
    from systems import write_churn_system

    from keel.system import System

    path = write_churn_system(tmp_path)
    result = runner.run(System.from_path(path), only=["model.5"], today=TODAY)
    [warning] = [w for w in result.warnings if "raises on" in w]
    assert "3 of 300 evaluation rows (ids c603, c617, c640)" in warning
    assert "charges (3)" in warning
    model_5 = next(e for e in result.evidence if e.practice == "model.5")
    assert model_5.status in ("pass", "fail")  # judged on the 297 rows it can predict
    assert model_5.facts["evaluation_rows_left_out"].startswith("3 of 300")


def test_preflight_stops_the_run_before_any_check(make_system):
    frame = binary_frame(300)
    frame["y"] = 0
    system = make_system(frame)
    seen: list[str] = []
    with pytest.raises(KeelError, match="at least two classes"):
        runner.run(system, progress=lambda p, i, n: seen.append(p), today=TODAY)
    assert seen == ["preflight"]
