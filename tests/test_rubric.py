import subprocess
import sys

import pytest

from keel.evidence import Evidence
from keel.rubric import BY_ID, PRACTICE_IDS, PRACTICES, SECTIONS, band, score


def ev(practice: str, status: str) -> Evidence:
    return Evidence(practice, status, "s")


def test_rubric_has_seven_practices_in_each_of_four_sections():
    assert len(PRACTICES) == 28
    for section in SECTIONS:
        ids = [p.id for p in PRACTICES if p.section == section]
        assert ids == [f"{section}.{i}" for i in range(1, 8)]
    assert all(p.title and p.description and p.automated for p in PRACTICES)


def test_final_score_is_the_minimum_of_the_section_sums():
    # data: 3 passes + 1 attested = 3.5; model: 7 passes = 7; infra: 2 = 2; monitor: 1 + 0.5 = 1.5
    evidence = [ev(f"data.{i}", "pass") for i in (1, 2, 3)] + [ev("data.4", "attested")]
    evidence += [ev(f"model.{i}", "pass") for i in range(1, 8)]
    evidence += [ev("infra.1", "pass"), ev("infra.2", "pass"), ev("infra.3", "fail")]
    evidence += [ev("monitor.1", "pass"), ev("monitor.2", "attested"), ev("monitor.3", "error")]
    result = score(evidence)
    assert result.sections == {"data": 3.5, "model": 7.0, "infra": 2.0, "monitor": 1.5}
    assert result.final == 1.5
    assert result.band.name == "first pass"


def test_attested_practice_earns_half_a_point_and_failing_checks_none():
    result = score([ev("data.1", "attested"), ev("data.2", "fail"), ev("data.3", "not_configured")])
    assert result.sections["data"] == 0.5


def test_literal_count_counts_failing_automated_tests_as_the_paper_does():
    evidence = [ev(p, "fail") for p in PRACTICE_IDS]
    result = score(evidence)
    assert result.final == 0
    assert result.literal_final == 7.0
    assert result.band.name == "research"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (0, "research"),
        (0.5, "barely tested"),
        (1, "barely tested"),
        (1.5, "first pass"),
        (2, "first pass"),
        (2.5, "reasonably tested"),
        (3, "reasonably tested"),
        (3.5, "strong"),
        (5, "strong"),
        (5.5, "exceptional"),
        (7, "exceptional"),
    ],
)
def test_bands_follow_the_paper(value, name):
    assert band(value).name == name


def test_unknown_practice_ids_are_refused():
    with pytest.raises(ValueError, match="data.9"):
        score([ev("data.9", "pass")])


def test_every_practice_is_reachable_by_id():
    assert set(BY_ID) == set(PRACTICE_IDS)


def test_a_practice_declares_its_check_by_reference_and_what_the_check_needs():
    schema = BY_ID["data.1"]
    assert schema.check == "keel.checks.data:data_1"
    assert schema.reusable and not schema.needs_model
    assert schema.reads == ("data", "system")
    assert BY_ID["model.1"].check and not BY_ID["model.1"].reusable  # reads git every time
    assert BY_ID["data.2"].needs_model
    served = BY_ID["monitor.7"]  # reads the prediction log: never reused from the cache
    assert served.check == "keel.checks.monitor:monitor_7" and not served.reusable


def test_reading_the_rubric_imports_no_check_code():
    code = (
        "import sys, keel.rubric as r; [p.check for p in r.PRACTICES]; "
        "print(sorted(m for m in sys.modules if m.startswith(('keel.checks', 'keel.system', "
        "'keel.config', 'keel.model', 'pandas', 'sklearn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_evidence_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="status"):
        Evidence("data.1", "passed", "s")
