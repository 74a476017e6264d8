import textwrap
from pathlib import Path

import pytest

from keel.checks._coverage import SuiteRun, find_test_files, line_ranges, run_tests_with_coverage

FEATURES = """
def double(x):
    return 2 * x


def unused(x):
    if x > 0:
        return x
    return -x
"""


def project(tmp_path: Path, tests: dict[str, str]) -> tuple[Path, Path]:
    """A package `feats` with feature code and the given test files; returns (root, source)."""
    (tmp_path / "feats").mkdir()
    (tmp_path / "feats" / "__init__.py").write_text("")
    source = tmp_path / "feats" / "features.py"
    source.write_text(textwrap.dedent(FEATURES))
    (tmp_path / "tests").mkdir()
    for name, text in tests.items():
        (tmp_path / "tests" / name).write_text(textwrap.dedent(text))
    return tmp_path, source


def test_find_test_files_follows_pytest_naming(tmp_path):
    for name in ("test_a.py", "b_test.py", "conftest.py", "helpers.py", "sub/test_c.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in find_test_files(tmp_path)]
    assert found == ["b_test.py", "sub/test_c.py", "test_a.py"]


def test_counts_tests_and_measures_the_lines_of_the_feature_file(tmp_path):
    root, source = project(
        tmp_path,
        {
            "test_features.py": """
            import pytest
            from feats.features import double

            def test_double():
                assert double(2) == 4

            def test_wrong():
                assert double(2) == 5

            @pytest.mark.skip(reason="later")
            def test_later():
                pass
            """
        },
    )
    run = run_tests_with_coverage(root, root / "tests", source)
    assert (run.passed, run.failed, run.errors, run.skipped) == (1, 1, 0, 1)
    assert run.returncode == 1 and not run.tests_pass
    assert (run.covered_lines, run.total_lines) == (3, 6)
    assert run.coverage == pytest.approx(0.5)
    assert run.missing_lines == [7, 8, 9]
    assert "1 failed" in run.output
    assert not list(root.rglob("__pycache__")) and not (root / ".pytest_cache").exists()


def test_a_feature_file_no_test_imports_counts_as_uncovered(tmp_path):
    root, source = project(tmp_path, {"test_other.py": "def test_ok():\n    assert True\n"})
    run = run_tests_with_coverage(root, root / "tests", source)
    assert run.tests_pass and run.passed == 1
    assert run.total_lines == 6 and run.covered_lines == 0 and run.coverage == 0.0


def test_tests_that_run_too_long_are_stopped(tmp_path):
    root, source = project(
        tmp_path, {"test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(60)\n"}
    )
    run = run_tests_with_coverage(root, root / "tests", source, timeout=4)
    assert run.timed_out and not run.tests_pass
    assert run.seconds < 30


def test_suite_run_without_statements_has_zero_coverage():
    assert SuiteRun(0, passed=1).coverage == 0.0


def test_line_ranges_joins_consecutive_lines():
    assert line_ranges([9, 3, 4, 5, 12]) == "3-5, 9, 12"
    assert line_ranges(list(range(0, 40, 2)), limit=2) == "0, 2 …"
    assert line_ranges([]) == ""
