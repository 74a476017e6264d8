"""keel.fingerprint: the model's code files found once by importing, then known without
importing while they are unchanged; and loading a system without importing its training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from systems import binary_frame, write_system

from keel.errors import ConfigError
from keel.fingerprint import model_code_hashes
from keel.system import System

TRAIN = """
import sklearn.ensemble  # the library a model's code imports: costly to import
import helpers

def train(frame, target, params, seed):
    return sklearn.ensemble.HistGradientBoostingClassifier(random_state=seed).fit(
        frame.drop(columns=[target]).select_dtypes("number"), frame[target]
    )
"""


def _system(tmp_path, code: str = TRAIN) -> System:
    path = write_system(
        tmp_path / "sys",
        binary_frame(200),
        binary_frame(100, seed=1),
        code=code,
        files={"helpers.py": "VALUE = 1\n"},
    )
    return System.from_path(path)


def _in_a_fresh_process(root) -> tuple[dict[str, str], list[str]]:
    """model_code_hashes of the system at `root` in a new process, and which of the training
    code's modules that process imported."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from keel.system import System
        from keel.fingerprint import model_code_hashes
        system = System.from_path({str(root)!r})
        hashes = model_code_hashes(system)
        print(json.dumps([hashes, sorted(m for m in ("sklearn", "sysmodel", "helpers")
                                         if m in sys.modules)]))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_files_found_by_importing_are_known_again_without_importing(tmp_path):
    system = _system(tmp_path)
    found = model_code_hashes(system)
    assert set(found) == {"sysmodel.py", "helpers.py"}
    hashes, imported = _in_a_fresh_process(system.root)
    assert hashes == found
    assert imported == []  # neither the user's modules nor scikit-learn


def test_a_changed_file_is_followed_again_and_a_new_import_is_found(tmp_path):
    system = _system(tmp_path)
    model_code_hashes(system)
    (system.root / "extra.py").write_text("NEW = 2\n")
    (system.root / "sysmodel.py").write_text(
        textwrap.dedent(TRAIN).replace("import helpers", "import helpers\nimport extra")
    )
    hashes, imported = _in_a_fresh_process(system.root)
    assert set(hashes) == {"sysmodel.py", "helpers.py", "extra.py"}
    assert "sysmodel" in imported  # followed again: the kept files had changed
    edited = System.from_path(system.config_file).entry_files()
    assert edited["helpers.py"][1] == hashes["helpers.py"]


def test_loading_a_system_does_not_import_a_training_function_it_can_see(tmp_path):
    system = _system(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        from keel.system import System
        System.from_path({str(system.root)!r})
        print("sysmodel" in sys.modules, "sklearn" in sys.modules)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def other(frame, target, params, seed):\n    return None\n", "has no function train"),
        ("def train(:\n", "importing module sysmodel failed: SyntaxError"),
    ],
)
def test_loading_names_an_entry_point_it_cannot_see(tmp_path, code, message):
    path = write_system(tmp_path / "sys", binary_frame(50), code=code)
    with pytest.raises(ConfigError, match=message):
        System.from_path(path)


def test_a_training_module_that_fails_to_import_is_named_when_first_used(tmp_path):
    code = "import not_installed_anywhere\n\ndef train(frame, target, params, seed):\n    pass\n"
    system = System.from_path(write_system(tmp_path / "sys", binary_frame(50), code=code))
    with pytest.raises(ConfigError, match="sysmodel cannot be imported.*not_installed"):
        system.train_function  # noqa: B018
