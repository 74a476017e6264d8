"""model.2's fault on a small real system: three versions of different offline quality, each
served by a real `keel serve` in windows that are over, with late labels (the setup); then late
labels that contradict the better versions, so online reverses the offline ranking."""

from __future__ import annotations

from pathlib import Path

import pytest
from selftest_systems import online_system, policy_system

from keel.selftest import run_selftest
from keel.selftest._copy import clone, make_template
from keel.selftest.fault import NotApplicable
from keel.selftest.faults_model_online import kept_shares, setup_ranked


def test_online_ranking_the_reverse_of_offline_is_caught_by_model_2(tmp_path: Path) -> None:
    path = online_system(tmp_path / "system")
    result = run_selftest(path, only=["model.2"], jobs=1)
    (found,) = result.faults
    assert found.clean is not None and found.clean.status == "pass", found.clean.summary
    assert found.clean.facts["versions"] == 3 and found.clean.facts["spearman"] >= 0.5
    assert found.verdict == "caught", found.reason
    assert found.faulty is not None and found.faulty.facts["spearman"] < 0.5
    assert found.planted["versions"] == [1, 2, 3]
    assert found.planted["labels_kept"] == {"1": 0.0, "2": 0.1, "3": 1.0}
    assert "v3 100%" in found.planted["planted"]  # the best offline: every label contradicts it


def test_versions_keep_fewer_labels_the_older_they_are() -> None:
    assert kept_shares(3) == [0.0, 0.1, 1.0]
    assert kept_shares(5) == [0.0, 0.001, 0.01, 0.1, 1.0]


def test_model_2_without_a_schema_to_serve_with_is_not_applicable(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "system")
    result = run_selftest(path, only=["model.2"], jobs=1)
    (found,) = result.faults
    assert found.verdict == "not applicable"
    assert "no schema file" in found.reason and "nothing can be served" in found.reason


def test_model_2_without_an_id_for_late_labels_is_not_applicable(tmp_path: Path) -> None:
    path = online_system(tmp_path / "system")
    path.write_text(path.read_text().replace('id = "uid"\n', ""))
    template = make_template(path, tmp_path / "scratch" / "template")
    copy = clone(template, tmp_path / "scratch" / "copy")
    with pytest.raises(NotApplicable, match=r"no \[system\] id"):
        setup_ranked(copy)
    assert not (copy.root / ".selftest" / "registry.db").exists()  # nothing trained first


def test_too_few_evaluation_rows_for_the_versions_is_not_applicable(tmp_path: Path) -> None:
    path = online_system(tmp_path / "system")
    text = path.read_text().replace("min_labels = 100", "min_labels = 400")
    path.write_text(text)
    template = make_template(path, tmp_path / "scratch" / "template")
    copy = clone(template, tmp_path / "scratch" / "copy")
    with pytest.raises(NotApplicable, match=r"900 rows: too few for 3 versions"):
        setup_ranked(copy)
