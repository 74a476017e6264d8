"""data.7: the feature code is covered by passing tests, and probes catch what tests miss."""

import textwrap

from systems import binary_frame

from keel.checks.data import data_7
from keel.system import System

FEATURES = '''
def build(raw):
    """Model inputs: x1, x2, their product and the group, with missing values tolerated."""
    out = raw.drop(columns=["y"], errors="ignore")
    out["x1_x2"] = out["x1"] * out["x2"]
    return out
'''

FEATURES_TEST = """
import pandas as pd

from sysmodel import build


def test_build_adds_the_product():
    raw = pd.DataFrame({"x1": [1.0, 2.0], "x2": [3.0, 4.0], "group": ["a", "b"], "y": [0, 1]})
    out = build(raw)
    assert out["x1_x2"].tolist() == [3.0, 8.0]
    assert "y" not in out.columns
"""


def feature_system(make_system, code: str = FEATURES) -> System:
    """A system whose module holds only feature code; it trains with Keel's ready-made trainer."""
    model = {"features": "sysmodel:build", "train": "keel.trainers:gradient_boosting"}
    return make_system(
        binary_frame(600, seed=0), binary_frame(300, seed=1), code=code, sections={"model": model}
    )


def write_tests(system: System, text: str, name: str = "test_features.py") -> None:
    folder = system.root / "tests"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))


def test_data_7_passes_feature_code_covered_by_passing_tests(make_system):
    system = feature_system(make_system)
    write_tests(system, FEATURES_TEST)
    evidence = data_7(system)
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["tests_passed"] == 1
    assert evidence.facts["feature_module"] == "sysmodel.py"
    assert evidence.facts["coverage"] >= 0.8
    assert evidence.facts["probes_failed"] == 0
    outcomes = {row[0]: row[1] for row in evidence.tables[1].rows}
    assert outcomes["nulls in x1"] == outcomes["empty frame"] == "pass"
    assert outcomes["hypothesis search"] == "pass"
    assert evidence.figures[0].reference == {"min_coverage": 0.8}


def test_data_7_fails_feature_code_without_tests(make_system):
    system = feature_system(make_system)
    evidence = data_7(system)
    assert evidence.status == "fail"
    assert evidence.summary.startswith("the tests folder tests does not exist")
    assert "test_features.py importing sysmodel" in evidence.hint
    (system.root / "tests").mkdir()
    (system.root / "tests" / "helpers.py").write_text("X = 1\n")
    evidence = data_7(system)
    assert evidence.summary.startswith("no test files (test_*.py, *_test.py) in tests")


def test_data_7_fails_tests_that_fail_or_leave_the_feature_code_uncovered(make_system):
    system = feature_system(make_system)
    write_tests(system, "def test_nothing_of_the_features():\n    assert 1 + 1 == 3\n")
    evidence = data_7(system)
    assert evidence.status == "fail"
    assert "1 test(s) fail" in evidence.summary
    assert "line coverage of sysmodel.py" in evidence.summary
    assert evidence.facts["coverage"] < 0.8
    assert any(t.title == "The end of pytest's output" for t in evidence.tables)


CRASHES_ON_NULLS = """
def build(raw):
    out = raw.drop(columns=["y"], errors="ignore")
    out["x1_rounded"] = out["x1"].round().astype("int64")  # raises on missing values
    return out
"""

DROPS_ROWS = """
def build(raw):
    return raw.drop(columns=["y"], errors="ignore").dropna()
"""


def test_data_7_probes_catch_a_feature_function_that_crashes_on_nulls(make_system):
    system = feature_system(make_system, CRASHES_ON_NULLS)
    write_tests(
        system, FEATURES_TEST.replace("x1_x2", "x1_rounded").replace("[3.0, 8.0]", "[1, 2]")
    )
    evidence = data_7(system)
    assert evidence.status == "fail"
    outcomes = {row[0]: row for row in evidence.tables[1].rows}
    assert outcomes["nulls in x1"][1] == "fail"
    assert "IntCastingNaNError" in outcomes["nulls in x1"][2]
    assert outcomes["nulls in x2"][1] == "pass"
    assert "probe(s) break the feature function" in evidence.summary
    assert evidence.facts["tests_passed"] == 1


def test_data_7_probes_catch_a_feature_function_that_drops_rows(make_system):
    system = feature_system(make_system, DROPS_ROWS)
    evidence = data_7(system)
    outcomes = {row[0]: row for row in evidence.tables[0].rows}
    assert outcomes["nulls in group"][1] == "fail"
    assert outcomes["nulls in group"][2] == "returned 0 rows for 20"
    assert outcomes["single row"][1] == "pass"
    assert evidence.status == "fail"


def test_data_7_is_not_configured_without_a_feature_function(make_system):
    evidence = data_7(make_system(binary_frame(300, seed=0)))
    assert evidence.status == "not_configured"
    assert '[model] features = "pkg.features:build"' in evidence.hint


# -- data.1, data.4, data.5 ------------------------------------------------------------------


def test_data_7_fails_tests_that_cannot_be_collected_saying_why(make_system):
    system = feature_system(make_system)
    write_tests(system, "import no_such_helper_module\n\n\ndef test_x():\n    assert True\n")
    evidence = data_7(system)
    assert evidence.status == "fail"
    assert "the tests could not be collected" in evidence.summary
    assert "No module named 'no_such_helper_module'" in evidence.summary
    assert "python -m pytest tests" in evidence.hint


def test_data_7_fails_a_tests_path_that_is_a_file_saying_why(make_system):
    system = feature_system(make_system)
    (system.root / "tests").write_text("not a folder\n")
    evidence = data_7(system)
    assert evidence.status == "fail"
    assert "the tests folder tests does not exist" in evidence.summary
