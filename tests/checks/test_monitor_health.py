"""monitor.1 (dependency changes), monitor.4 (staleness) and monitor.5 (numerical stability) on
real systems registering into real SQLite registries, with real prediction logs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess

import pytest
from health_systems import clone, log, own_copy, record, register, serve
from registries import good_system, named
from systems import HGB_TRAIN, binary_frame, monthly, write_system
from threadpoolctl import threadpool_limits

from keel.checks.monitor import monitor_1, monitor_4, monitor_5
from keel.system import System


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return good_system(tmp_path_factory.mktemp("monitor-health"))


@pytest.fixture(scope="module")
def served(base, tmp_path_factory):
    system = own_copy(base, tmp_path_factory.mktemp("served") / "credit")
    version = register(system)
    serve(system, version.version)
    return system, version


def again(system: System) -> System:
    return System.from_path(system.root)


# -- monitor.1 ---------------------------------------------------------------------------------


def test_monitor_1_fails_when_nothing_serves(base):
    evidence = monitor_1(named(base, "nothing-serves"))
    assert evidence.status == "fail" and "no champion" in evidence.summary
    assert "keel promote" in evidence.hint


def test_monitor_1_passes_when_nothing_changed_and_says_what_it_compared(served):
    system, version = served
    evidence = monitor_1(again(system))
    assert evidence.status == "pass", evidence.summary
    assert "nothing changed" in evidence.summary and "packages" in evidence.summary
    assert "the train data" in evidence.summary and evidence.facts["changes"] == 0


def test_monitor_1_fails_naming_a_changed_data_file(base, tmp_path):
    system = own_copy(base, tmp_path / "credit")
    version = register(system)
    serve(system, version.version)
    binary_frame(1600, seed=5).to_parquet(system.root / "data" / "train.parquet")
    evidence = monitor_1(again(system))
    assert evidence.status == "fail"
    changed = {row[0]: row for row in evidence.tables[0].rows}
    assert changed["train data rows"][1:] == ["1500", "1600"]
    assert "train data content_hash" in changed and "eval data rows" not in changed
    assert "train data" in evidence.summary and "keel train" in evidence.hint


def test_monitor_1_fails_on_a_changed_transitive_dependency_such_as_scipy(served):
    """SciPy is no pinned requirement of the model (scikit-learn requires it): the version's
    environment, the closure of its requirements, is fingerprinted all the same."""
    system, version = served
    environment = version.lineage["environment"]
    assert "scipy" in environment and not any(
        r.lower().startswith("scipy==") for r in version.lineage["requirements"]
    )
    changed = clone(system, version, environment={**environment, "scipy": "0.0.1"})
    try:
        serve(system, changed)
        evidence = monitor_1(again(system))
    finally:
        serve(system, version.version)
    assert evidence.status == "fail", evidence.summary
    whats = {row[0]: row[1:] for row in evidence.tables[0].rows}
    assert whats == {"package scipy": ["0.0.1", environment["scipy"]]}


def test_monitor_1_compares_the_pinned_packages_of_a_version_without_a_recorded_environment(
    served,
):
    system, version = served
    changed = clone(system, version, environment={}, requirements=["numpy==0.0.1", "pandas==0.0.2"])
    try:
        serve(system, changed)
        evidence = monitor_1(again(system))
    finally:
        serve(system, version.version)
    assert evidence.status == "fail"
    whats = {row[0]: row[1] for row in evidence.tables[0].rows}
    assert whats == {"package numpy": "0.0.1", "package pandas": "0.0.2"}


def git(folder, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def committed(base, tmp_path):
    """A copy of the system in its own git repository, its version trained at the commit."""
    system = own_copy(base, tmp_path / "credit")
    (system.root / "README.md").write_text("The test system.\n")
    git(system.root, "init", "-q")
    git(system.root, "add", "-A")
    git(system.root, "commit", "-qm", "the system")
    version = register(system)
    serve(system, version.version)
    return system


def test_monitor_1_passes_a_later_commit_that_changes_only_keel_toml_and_the_readme(committed):
    root = committed.root
    (root / "keel.toml").write_text((root / "keel.toml").read_text() + "\n# reviewed\n")
    (root / "README.md").write_text("The test system, documented.\n")
    git(root, "commit", "-qam", "docs and a comment")
    evidence = monitor_1(again(committed))
    assert evidence.status == "pass", evidence.summary
    assert evidence.facts["git_commit_then"] != evidence.facts["git_commit_now"]
    assert "model code file" in evidence.summary and "not the commit itself" in evidence.summary


def test_monitor_1_fails_naming_a_changed_feature_code_file(committed):
    root = committed.root
    features = root / "sysfeatures.py"
    features.write_text(features.read_text().replace('raw["x1"] * raw["x2"]', 'raw["x1"]'))
    git(root, "commit", "-qam", "a changed feature")
    evidence = monitor_1(again(committed))
    assert evidence.status == "fail", evidence.summary
    whats = [row[0] for row in evidence.tables[0].rows]
    assert whats == ["code sysfeatures.py"] and "code sysfeatures.py" in evidence.summary


# -- monitor.4 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """A system with [system] timestamp, one version registered (no staleness limit)."""
    root = tmp_path_factory.mktemp("monitor-stale")
    train, evaluation = monthly(6, 150, turn=0.0)
    path = write_system(
        root / "timed",
        train,
        evaluation,
        sections={
            "system": {"timestamp": "at"},
            "registry": {"uri": f"sqlite:///{root}/store/mlflow.db", "model": "timed"},
        },
    )
    with threadpool_limits(1):
        system = System.from_path(path)
        version = register(system)
    serve(system, version.version)
    return system, version


def test_monitor_4_is_not_configured_without_a_timestamp(served):
    evidence = monitor_4(again(served[0]))
    assert evidence.status == "not_configured" and "[system] timestamp" in evidence.summary


def test_monitor_4_is_not_configured_when_the_version_has_no_stored_limit(timed):
    system, version = timed
    assert version.lineage["data"]["train"]["newest"].startswith("2024-")
    evidence = monitor_4(again(system))
    assert evidence.status == "not_configured"
    assert "keel train --staleness-limit" in evidence.hint


def _aged(system, version, days: float) -> int:
    newest = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()
    data = {**version.lineage["data"]}
    data["train"] = {**data["train"], "newest": newest}
    return clone(system, version, staleness_limit_days=30.0, data=data)


def test_monitor_4_fails_a_stale_model_and_passes_its_fresh_twin(timed):
    system, version = timed
    stale, fresh = _aged(system, version, 400), _aged(system, version, 5)
    try:
        serve(system, stale)
        old = monitor_4(again(system))
        serve(system, fresh)
        young = monitor_4(again(system))
    finally:
        serve(system, version.version)
    assert old.status == "fail" and "over model.4's limit of 30 days" in old.summary
    assert 399 < old.facts["age_days"] < 401 and old.figures[0].flagged[0]
    assert young.status == "pass" and "within model.4's limit" in young.summary
    assert young.facts["train_source_age_days"] > 365  # the source itself is from 2024
    assert young.thresholds["staleness_limit_days"] == 30.0


def test_the_lineage_records_the_newest_training_timestamp(timed):
    system, version = timed
    newest = system.raw("train")["at"].max()
    assert version.lineage["data"]["train"]["newest"].startswith(newest.isoformat()[:19])


# -- monitor.5 ---------------------------------------------------------------------------------

NAN_ON_EXTREMES = (
    HGB_TRAIN
    + """
import numpy as np


class NanOnExtremes:
    '''The trained pipeline, except that it predicts NaN where |x1| exceeds a million.'''

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict(self, X):
        return self.model.predict(X)

    def predict_proba(self, X):
        proba = self.model.predict_proba(X).copy()
        proba[np.abs(np.asarray(X["x1"], dtype=float)) > 1e6] = np.nan
        return proba


_fit = train


def train(frame, target, params, seed):
    return NanOnExtremes(_fit(frame, target, params, seed))
"""
)


def test_monitor_5_is_not_configured_before_the_serving_version_served_its_probes_shown(served):
    evidence = monitor_5(again(served[0]))
    assert evidence.status == "not_configured", evidence.summary
    assert f"version {served[1].version} has not served yet" in evidence.summary
    probes = {row[0]: row[2] for row in evidence.tables[-1].rows}
    for probe in (
        "clean rows",
        "nulls in x1",
        "numbers = 1e+12",
        "numbers = 0",
        "unseen categories",
        "empty strings",
        "x1 = 0",
        "x1 = -1",
        "x2 = 1e+12",
        "x2 = -1e+12",
    ):
        assert probes[probe] == "pass", probe


def test_monitor_5_fails_a_model_that_predicts_nan_for_extreme_inputs(tmp_path):
    path = write_system(
        tmp_path / "nan",
        binary_frame(800),
        binary_frame(300, seed=1),
        code=NAN_ON_EXTREMES,
        sections={"registry": {"uri": f"sqlite:///{tmp_path}/store/mlflow.db", "model": "nan"}},
    )
    with threadpool_limits(1):
        system = System.from_path(path)
        version = register(system)
    serve(system, version.version)
    evidence = monitor_5(again(system))
    assert evidence.status == "fail"
    failed = {row[0]: row[3] for row in evidence.tables[-1].rows if row[2] == "fail"}
    assert set(failed) == {"numbers = 1e+12", "numbers = -1e+12", "x1 = 1e+12", "x1 = -1e+12"}
    assert "NaN" in failed["x1 = 1e+12"] and "edge-case probes fail" in evidence.summary


RATIO = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["ratio"] = raw["x1"] / raw["x2"]
    return out
"""


def test_monitor_5_fails_naming_the_input_whose_zero_alone_makes_an_infinite_model_input(tmp_path):
    """All numbers at 0 give 0/0 = NaN, which the model takes; x2 alone at 0 gives infinity,
    which it refuses: only the one-input probe finds it."""
    path = write_system(
        tmp_path / "ratio",
        binary_frame(800),
        binary_frame(300, seed=1),
        files={"ratiofeatures.py": RATIO},
        sections={
            "model": {"features": "ratiofeatures:build"},
            "registry": {"uri": f"sqlite:///{tmp_path}/store/mlflow.db", "model": "ratio"},
        },
    )
    with threadpool_limits(1):
        system = System.from_path(path)
        version = register(system)
    serve(system, version.version)
    evidence = monitor_5(again(system))
    assert evidence.status == "fail", evidence.summary
    failed = {row[0]: row[3] for row in evidence.tables[-1].rows if row[2] == "fail"}
    assert "x2 = 0" in failed and "numbers = 0" not in failed
    assert "infinity" in failed["x2 = 0"] and "x2 = 0" in evidence.summary


SAFE_RATIO = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["ratio"] = raw["x1"] / (raw["x2"].abs() + 1)
    return out
"""


def test_monitor_5_keeps_the_probes_of_a_version_and_probes_a_new_version_again(tmp_path):
    """The probes' outcomes are kept across runs (the model is not probed again while the
    version, the probes, the code and what is installed stay the same); a new version, whose
    feature code now builds infinity, is probed and fails."""
    path = write_system(
        tmp_path / "ratio",
        binary_frame(800),
        binary_frame(300, seed=1),
        files={"ratiofeatures.py": SAFE_RATIO},
        sections={
            "model": {"features": "ratiofeatures:build"},
            "registry": {"uri": f"sqlite:///{tmp_path}/store/mlflow.db", "model": "ratio"},
        },
    )
    system = System.from_path(path)
    first = register(system)
    serve(system, first.version)
    assert monitor_5(again(system)).status == "not_configured"
    kept = list(system.cache.folder.glob("monitor5-probes-*.pkl"))
    assert len(kept) == 1
    assert monitor_5(again(system)).status == "not_configured"
    assert list(system.cache.folder.glob("monitor5-probes-*.pkl")) == kept  # reused
    (system.root / "ratiofeatures2.py").write_text(RATIO)  # a module this process has not met
    toml = system.root / "keel.toml"
    toml.write_text(toml.read_text().replace("ratiofeatures:build", "ratiofeatures2:build"))
    second = register(System.from_path(path))
    serve(system, second.version)
    evidence = monitor_5(again(system))
    assert evidence.status == "fail", evidence.summary
    assert "x2 = 0" in evidence.summary


def test_the_probes_key_changes_with_the_version_the_code_and_what_is_installed(served, tmp_path):
    import sys

    from keel.checks._monitor_inputs import probes_key

    system, version = served
    probes = [("clean rows", binary_frame(5).drop(columns=["y"]))]
    key = probes_key(system, version, probes)
    assert probes_key(system, version, probes) == key
    other = dataclasses.replace(version, version=version.version + 1)
    assert probes_key(system, other, probes) != key
    assert probes_key(system, version, [("clean rows", binary_frame(5, seed=9))]) != key
    site = tmp_path / "site"
    site.mkdir()
    sys.path.append(str(site))
    try:
        before = probes_key(system, version, probes)
        (site / "newdist-1.0.dist-info").mkdir()  # a package installed there
        assert probes_key(system, version, probes) != before
    finally:
        sys.path.remove(str(site))


def test_frames_hash_changes_with_any_value_type_length_or_order_of_the_frames():
    import pandas as pd

    from keel.checks._monitor_inputs import frames_hash

    a = pd.DataFrame({"x": [1, 2], "c": ["u", "v"]})
    b = pd.DataFrame({"x": [3], "c": ["w"]})
    c = pd.DataFrame({"x": [1.5], "c": ["w"]})  # another kind: hashed apart
    key = frames_hash([a, b, c])
    assert frames_hash([a.copy(), b.copy(), c.copy()]) == key
    assert frames_hash([b, a, c]) != key  # order
    assert frames_hash([a, b.assign(x=[4]), c]) != key  # a value
    assert frames_hash([a, b.astype({"x": "float64"}), c]) != key  # a type
    assert frames_hash([a.iloc[:1], pd.concat([a.iloc[1:], b]), c]) != key  # where rows split
    assert frames_hash([a, b, c.rename(columns={"c": "d"})]) != key  # a name


def test_the_present_environment_is_kept_only_until_a_distribution_is_installed(served, tmp_path):
    import sys

    from keel.checks._monitor_inputs import _kept_environment

    system, _ = served
    stored = {"roots": [], "packages": {"newdist": "1.0"}}
    assert _kept_environment(system, stored) == {"newdist": "not installed"}
    site = tmp_path / "site"
    site.mkdir()
    sys.path.append(str(site))
    try:
        assert _kept_environment(system, stored) == {"newdist": "not installed"}  # kept
        meta = site / "newdist-1.0.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: newdist\nVersion: 1.0\n")
        assert _kept_environment(system, stored) == {"newdist": "1.0"}
    finally:
        sys.path.remove(str(site))


def test_monitor_5_fails_on_logged_nan_outputs_and_passes_a_clean_log(base, tmp_path):
    system = own_copy(base, tmp_path / "credit")
    version = register(system).version
    serve(system, version)
    log(system, [record(i, version) for i in range(120)])
    clean = monitor_5(again(system))
    assert clean.status == "pass" and "120 served rows" in clean.summary
    assert clean.facts["failed_rows"] == 0
    log(system, [record(i, version, nonfinite=["outputs.proba_1"]) for i in range(120, 125)])
    evidence = monitor_5(again(system))
    assert evidence.status == "fail" and "outputs.proba_1" in evidence.summary
    assert evidence.facts["nonfinite_fields"] == 1 and evidence.figures


def test_monitor_5_counts_served_rows_that_failed_in_the_model(base, tmp_path):
    system = own_copy(base, tmp_path / "credit")
    version = register(system).version
    serve(system, version)
    error = "ValueError: Input X contains infinity or a value too large for dtype('float64')."
    kept = ("request_id", "row", "example_id", "time", "model_version", "route", "latency_seconds")
    rows = [record(i, version) for i in range(94)]
    rows += [  # 6% of rows failed, logged as the server logs them
        {**{k: record(i, version)[k] for k in kept}, "prediction": None, "error": error}
        for i in range(94, 100)
    ]
    log(system, rows)
    evidence = monitor_5(again(system))
    assert evidence.status == "fail", evidence.summary
    assert evidence.facts["failed_rows"] == 6
    assert "6 of 100 served rows failed in the model" in evidence.summary
