"""`keel.monitor.dependencies`: the stored fingerprint against the present, change by change."""

from monitor_states import version

from keel.dependencies import distribution_closure
from keel.monitor.dependencies import (
    DependencyInputs,
    compared,
    diff,
    judge_dependencies,
    present_packages,
    stored_fingerprint,
)

LINEAGE = {
    "python": "3.12.4",
    "git_commit": "abc",
    "requirements": ["scikit-learn==1.5.2", "numpy==2.1.0"],
    "data": {
        "train": {
            "source": "t",
            "rows": 10,
            "schema_hash": "s",
            "content_hash": "c",
            "newest": "2026-01-01T00:00:00+00:00",
        },
    },
}


def test_nothing_changed_is_an_empty_diff_and_says_what_was_compared():
    stored = stored_fingerprint(LINEAGE)
    assert diff(stored, stored) == []
    assert compared(stored) == [
        "Python",
        "2 packages",
        "the train data (schema, rows, content, newest time)",
    ]


def test_every_change_is_listed_with_what_was_stored_and_what_is_there_now():
    stored = stored_fingerprint(LINEAGE)
    now = {
        "python": "3.12.5",
        "git_commit": "abc",
        "packages": {"scikit-learn": "1.6.0", "numpy": "2.1.0"},
        "data": {"train": {**stored["data"]["train"], "rows": 12, "content_hash": "d"}},
    }
    changes = [(c.what, c.stored, c.now) for c in diff(stored, now)]
    assert changes == [
        ("python", "3.12.4", "3.12.5"),
        ("package scikit-learn", "1.5.2", "1.6.0"),
        ("train data rows", "10", "12"),
        ("train data content_hash", "c", "d"),
    ]


def test_a_missing_package_or_source_is_a_change():
    stored = stored_fingerprint(LINEAGE)
    now = {"python": "3.12.4", "git_commit": "abc", "packages": {"numpy": "2.1.0"}, "data": {}}
    whats = {c.what: c.now for c in diff(stored, now)}
    assert whats["package scikit-learn"] == "not installed"
    assert whats["train data rows"] == "none"


def test_present_packages_reads_the_installed_versions():
    found = present_packages(["numpy", "surely-not-a-package-keel"])
    assert found["numpy"][0].isdigit() and found["surely-not-a-package-keel"] == "not installed"


RECORDED = {
    **LINEAGE,
    "code_hashes": {"credit/features.py": "f1", "credit/train.py": "t1"},
    "environment": {"scikit-learn": "1.5.2", "numpy": "2.1.0", "scipy": "1.14.1"},
}


def test_the_environment_and_each_code_file_are_compared_and_the_commit_is_not():
    stored = stored_fingerprint(RECORDED)
    assert stored["roots"] == ["numpy", "scikit-learn"]
    assert compared(stored) == [
        "Python",
        "2 model code file(s)",
        "3 packages (the closure of its requirements)",
        "the train data (schema, rows, content, newest time)",
    ]
    now = {
        **stored,
        "git_commit": "def",  # a later commit: not a change in itself
        "code": {"credit/features.py": "f2", "credit/train.py": "t1"},
        "packages": {**stored["packages"], "scipy": "1.15.0"},
    }
    changes = [(c.what, c.stored, c.now) for c in diff(stored, now)]
    assert changes == [
        ("code credit/features.py", "f1", "f2"),
        ("package scipy", "1.14.1", "1.15.0"),
    ]


def test_the_closure_of_a_requirement_holds_what_it_requires_transitively():
    closure = distribution_closure(["scikit-learn==0.0.1"])  # the pin's version is not read
    assert {"scikit-learn", "scipy", "numpy", "joblib", "threadpoolctl"} <= set(closure)
    assert "pytest" not in closure  # an extra's requirement (scikit-learn[tests]) is not one
    assert distribution_closure(["surely-not-a-package-keel"]) == {}


def test_the_judgement_fails_listing_each_change_and_reads_the_present_only_when_stored():
    def never(stored):
        raise AssertionError("the present was read for a version without a lineage")

    unknown = judge_dependencies(DependencyInputs(version(2), never))
    assert unknown.status == "fail" and "without a recorded lineage" in unknown.summary
    lineage = {"python": "3.11.1", "requirements": ["scipy==1.0"], "git_commit": "a" * 40}
    same = {"python": "3.11.1", "packages": {"scipy": "1.0"}, "git_commit": "b" * 40}
    passed = judge_dependencies(DependencyInputs(version(2, lineage), lambda stored: same))
    assert passed.status == "pass"
    assert "only the files a commit changes can be dependencies" in passed.summary
    moved = same | {"python": "3.12.0", "packages": {"scipy": "2.0"}}
    failed = judge_dependencies(DependencyInputs(version(2, lineage), lambda stored: moved))
    assert failed.status == "fail"
    assert failed.summary.startswith("2 dependencies of version 2 changed: python: 3.11.1 → 3.12.0")
    rows = failed.tables[0].rows
    assert rows == [["python", "3.11.1", "3.12.0"], ["package scipy", "1.0", "2.0"]]
    assert judge_dependencies(DependencyInputs(None, never)).status == "fail"
