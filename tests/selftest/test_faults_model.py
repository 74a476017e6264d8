"""model.1's fault (training code edited and not committed) on small real systems: caught in
the copy's own repository when the system is in git, not applicable outside git."""

from __future__ import annotations

from pathlib import Path

from selftest_systems import in_git, policy_system

from keel.selftest import run_selftest


def test_an_uncommitted_edit_to_the_training_code_is_caught_by_model_1(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "system")
    in_git(path.parent)
    result = run_selftest(path, only=["model.1"], jobs=1)
    (found,) = result.faults
    assert found.clean is not None and found.clean.status == "pass", found.clean.summary
    assert found.verdict == "caught", found.reason
    assert found.faulty is not None and "1 modified file(s): sysmodel.py" in found.faulty.summary
    assert found.planted["planted"] == "sysmodel.py edited and not committed"
    assert result.passed


def test_model_1_outside_git_is_not_applicable_with_the_reason(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "system")
    result = run_selftest(path, only=["model.1"], jobs=1)
    (found,) = result.faults
    assert found.verdict == "not applicable"
    assert found.reason == "the system is not in a git repository: model.1 has nothing to check"
    assert result.passed
