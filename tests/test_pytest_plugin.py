"""keel.pytest_plugin: `pytest --keel` in a user's test run, with pytester (each run a
subprocess, as a user's pytest is)."""

from __future__ import annotations

import os
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pandas.core.arrays.arrow.extension_types  # noqa: F401 (see below)
import pytest
from systems import binary_frame, write_system

# pytester removes the modules a test imported when it ends; pandas' Arrow extension types,
# imported on a first to_parquet, cannot be imported twice: import them before any test.

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]
# Load the plugin by module unless Keel is installed with its entry point (then pytest does).
PLUGIN = [] if entry_points(group="pytest11", name="keel") else ["-p", "keel.pytest_plugin"]


@pytest.fixture
def user_repo(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's repository: a small system (data.4 fails: `x2` is deny-listed) and one test."""
    write_system(
        pytester.path,
        binary_frame(300),
        binary_frame(200, seed=1),
        sections={"policy": {"deny": ["x2"]}},
    )
    pytester.makepyfile(test_theirs="def test_theirs():\n    assert True\n")
    os.environ["PYTHONPATH"] = str(ROOT / "src")
    return pytester


def test_the_entry_point_is_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"keel": "keel.pytest_plugin"}


def test_each_practice_is_a_test_item_failing_with_its_evidence(user_repo):
    result = user_repo.runpytest_subprocess(
        *PLUGIN, "--keel", "--keel-only", "data.1,data.4,model.1", "-rs", "-v", "test_theirs.py"
    )
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*test_theirs.py::test_theirs PASSED*",
            "*keel.toml::data.1 SKIPPED*",
            "*keel.toml::data.4 FAILED*",
            "*data.4 fail: 1 policy violation(s): x2 matches deny pattern 'x2'*",
            "*hint: *",
            "SKIPPED*data.1 not configured: no schema file keel.schema.yaml*keel schema infer*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_section_markers_select_practices(user_repo):
    result = user_repo.runpytest_subprocess(
        *PLUGIN,
        "--keel=.",
        "--keel-only",
        "data.4,model.1",
        "-m",
        "keel_model",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(skipped=1, deselected=2)


def test_a_configuration_error_is_the_message_not_a_traceback(user_repo):
    (user_repo.path / "keel.toml").write_text('[system]\nname = "x"\ntask = "binary"\n')
    result = user_repo.runpytest_subprocess(*PLUGIN, "--keel", "--keel-only", "data.4")
    result.assert_outcomes(passed=1, errors=1)
    assert "\nkeel.toml: required section [data] is missing\n" in result.stdout.str()
    assert "site-packages" not in result.stdout.str()


def test_an_unknown_practice_id_is_a_usage_error(user_repo):
    result = user_repo.runpytest_subprocess(*PLUGIN, "--keel", "--keel-only", "data.9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--keel-only: unknown practice id data.9*"])


def test_without_keel_the_plugin_adds_nothing_and_imports_nothing_of_keel(user_repo):
    user_repo.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = sorted(m for m in sys.modules if m == 'keel' or m.startswith('keel.'))\n"
        "    open('loaded.txt', 'w').write(' '.join(loaded))\n"
    )
    result = user_repo.runpytest_subprocess(*PLUGIN, "-v")
    result.assert_outcomes(passed=1)
    assert "keel.toml::" not in result.stdout.str()
    assert (user_repo.path / "loaded.txt").read_text() == "keel keel.pytest_plugin"
