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


def keel_trainer_system(tmp_path, *, features: bool):
    """A system as `keel init` writes it: Keel's own trainer, optionally a feature module."""
    sections = {"model": {"train": "keel.trainers:gradient_boosting", "params": {}}}
    files = {}
    if features:
        sections["model"]["features"] = "feats:build"
        files["feats.py"] = "def build(raw):\n    return raw.drop(columns=['y'])\n"
    path = write_system(tmp_path, binary_frame(100), sections=sections, files=files)
    (tmp_path / "sysmodel.py").unlink()  # no training code of its own
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "keel.toml", *(["feats.py"] if features else []))
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "model")
    return path


def test_keels_own_trainer_with_committed_keel_toml_passes_and_says_so(tmp_path):
    e = model_1(System.from_path(keel_trainer_system(tmp_path, features=False)))
    assert e.status == "pass", e.summary
    assert "the trainer is Keel's own" in e.summary
    assert "keel.trainers:gradient_boosting" in e.summary
    assert e.facts["files"] == 1  # keel.toml only
    assert [row[0] for row in e.tables[0].rows] == [
        "keel.toml",
        "[model] train = keel.trainers:gradient_boosting",
    ]


def test_keels_own_trainer_still_fails_an_uncommitted_feature_module(tmp_path):
    path = keel_trainer_system(tmp_path, features=True)
    (tmp_path / "feats.py").write_text("def build(raw):\n    return raw.drop(columns=['y'])\n# x\n")
    e = model_1(System.from_path(path))
    assert e.status == "fail"
    assert "feats.py" in e.summary and "modified" in e.summary
    assert "Keel's own" in e.summary


def test_training_code_outside_the_repository_fails_and_names_it(tmp_path):
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "outsider.py").write_text(
        "from sysmodel import train as _t\n\n\ndef train(frame, target, params, seed):\n"
        "    return _t(frame, target, params, seed)\n"
    )
    path = write_system(repo, binary_frame(100), sections={"model": {"train": "outsider:train"}})
    git(repo, "init", "-q")
    git(repo, "add", "keel.toml", "sysmodel.py")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "model")
    import sys

    sys.path.append(str(elsewhere))
    try:
        e = model_1(System.from_path(path))
    finally:
        sys.path.remove(str(elsewhere))
        sys.modules.pop("outsider", None)
    assert e.status == "fail"
    assert "outside the repository" in e.summary and "outsider.py" in e.summary


def test_a_version_registered_from_committed_code_passes_and_names_its_commit(tmp_path):
    from keel.training import train_and_register

    path = committed_system(tmp_path)
    version = train_and_register(System.from_path(path))
    assert version.lineage["git_uncommitted"] == []
    e = model_1(System.from_path(path))
    assert e.status == "pass", e.summary
    assert e.facts["version"] == version.version
    assert e.facts["version_commit"] == e.facts["commit"]
    assert f"version {version.version} was registered from commit" in e.summary


def test_a_version_registered_from_uncommitted_code_fails_after_the_tree_is_clean(tmp_path):
    from keel.training import train_and_register

    path = committed_system(tmp_path)
    model = tmp_path / "sysmodel.py"
    model.write_text(model.read_text() + "\n# an unreviewed change\n")
    version = train_and_register(System.from_path(path))  # registered from a dirty tree
    git(tmp_path, "checkout", "--", "sysmodel.py")  # the tree is clean again
    e = model_1(System.from_path(path))
    assert e.status == "fail"
    assert f"version {version.version} was registered from uncommitted code" in e.summary
    assert "sysmodel.py" in e.summary and "keel train" in e.hint


def test_a_version_that_recorded_nothing_of_git_fails(tmp_path):
    """Registered before its system was put in git: it cannot be traced to a commit."""
    from keel.training import train_and_register

    path = write_system(tmp_path, binary_frame(100))
    train_and_register(System.from_path(path))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "keel.toml", "sysmodel.py")
    git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "model")
    e = model_1(System.from_path(path))
    assert e.status == "fail"
    assert "recorded no git commit" in e.summary
