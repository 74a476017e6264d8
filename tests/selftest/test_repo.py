"""The scratch copy's own git repository: made when the user's system is in git, committed
(keel.toml and code) with a fixed author, each clone clean, and the user's .git never read
for anything but `git ls-files` nor written, whatever GIT_* the caller has set."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from selftest_systems import folder_hashes, in_git, policy_system

from keel.git import file_state, head_commit
from keel.selftest import run_selftest
from keel.selftest._copy import clone, make_template
from keel.selftest._repo import AUTHOR, is_repository, tracked_files


def git(folder: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_system_in_git_gets_a_repository_of_its_own_with_everything_committed(
    tmp_path: Path,
) -> None:
    path = policy_system(tmp_path / "user")
    (path.parent / "untracked_helper.py").write_text("X = 1\n")  # code the user left out
    user_commit = in_git(path.parent)
    before = folder_hashes(path.parent / ".git")
    copy = make_template(path, tmp_path / "scratch" / "template")
    assert is_repository(copy.root)
    assert head_commit(copy.root) not in (None, user_commit)
    assert git(copy.root, "log", "-1", "--format=%an <%ae>") == f"{AUTHOR[0]} <{AUTHOR[1]}>"
    committed = set(git(copy.root, "ls-files").splitlines())
    assert {"keel.toml", "feats.py", "sysmodel.py", "untracked_helper.py"} <= committed
    assert not any(name.startswith((".keel/", ".selftest/", "data/")) for name in committed)
    files = [copy.config_file, copy.root / "feats.py", copy.root / "sysmodel.py"]
    state = file_state(copy.root, files)
    assert state is not None and not state.untracked and not state.modified
    assert folder_hashes(path.parent / ".git") == before  # the user's repository untouched
    assert head_commit(path.parent) == user_commit


def test_each_clone_commits_its_own_keel_toml_and_starts_clean(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "user")
    in_git(path.parent)
    template = make_template(path, tmp_path / "scratch" / "template")
    copy = clone(template, tmp_path / "scratch" / "clone")
    assert copy.registry_uri in copy.config_file.read_text()
    state = file_state(copy.root, [copy.config_file])
    assert state is not None and not state.modified and not state.untracked
    assert head_commit(copy.root) != head_commit(template.root)


def test_the_users_git_variables_never_reach_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = policy_system(tmp_path / "user")
    user_commit = in_git(path.parent)
    before = folder_hashes(path.parent / ".git")
    monkeypatch.setenv("GIT_DIR", str(path.parent / ".git"))  # as inside a git hook
    monkeypatch.setenv("GIT_WORK_TREE", str(path.parent))
    copy = make_template(path, tmp_path / "scratch" / "template")
    result = run_selftest(path, only=["model.1"], jobs=1)  # its git runs in the copy's
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    assert is_repository(copy.root)
    assert result.faults[0].verdict == "caught", result.faults[0].reason
    assert folder_hashes(path.parent / ".git") == before
    assert head_commit(path.parent) == user_commit


def test_a_system_outside_git_gets_no_repository(tmp_path: Path) -> None:
    path = policy_system(tmp_path / "user")
    assert tracked_files(path.parent) is None
    copy = make_template(path, tmp_path / "scratch" / "template")
    assert not is_repository(copy.root) and not (copy.root / ".git").exists()
