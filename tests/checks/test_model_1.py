import subprocess

from systems import binary_frame, write_system

from keel.checks.model import model_1
from keel.system import System


def git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def committed_system(tmp_path):
    path = write_system(tmp_path, binary_frame(100))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "keel.toml", "sysmodel.py")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "model")
    return path


def test_committed_clean_training_code_passes_and_records_the_commit(tmp_path):
    e = model_1(System.from_path(committed_system(tmp_path)))
    assert e.status == "pass"
    assert len(e.facts["commit"]) == 40


def test_uncommitted_change_to_training_code_fails_and_names_the_file(tmp_path):
    path = committed_system(tmp_path)
    (tmp_path / "sysmodel.py").write_text((tmp_path / "sysmodel.py").read_text() + "\n# edit\n")
    e = model_1(System.from_path(path))
    assert e.status == "fail"
    assert "sysmodel.py" in e.summary and "modified" in e.summary
    assert "commit" in e.hint


def test_untracked_keel_toml_fails(tmp_path):
    path = write_system(tmp_path, binary_frame(100))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "sysmodel.py")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "model")
    e = model_1(System.from_path(path))
    assert e.status == "fail"
    assert "keel.toml" in e.summary and "untracked" in e.summary


def test_outside_a_git_repository_is_not_configured_with_a_hint(tmp_path):
    path = write_system(tmp_path, binary_frame(100))
    e = model_1(System.from_path(path))
    assert e.status == "not_configured"
    assert "git init" in e.hint
