"""The serving and monitoring faults of `keel selftest` (monitor.1–7, infra.6, infra.7) on a
small real system: each setup, on a scratch copy with its own SQLite registry and prediction
log, a real `keel serve`, a real canary and a real rollback drill, leaves every check passing;
each planted fault, on a copy of its own, makes its practice's check fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drills import infer_schema
from systems import binary_frame, write_system
from threadpoolctl import threadpool_limits

from keel.checks.runner import run_check
from keel.selftest import traffic
from keel.selftest.fault import Copy
from keel.selftest.faults_monitor import FAULTS, setup_operated, setup_served
from keel.system import System

FEATURES = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["x1_x2"] = raw["x1"] * raw["x2"]
    return out
"""


def timed_frame(n: int, seed: int, start_days: float, end_days: float) -> pd.DataFrame:
    """`binary_frame` rows with an id `uid` and a timestamp `at` spread from `start_days` to
    `end_days` ago (oldest first)."""
    frame = binary_frame(n, seed=seed)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    ages = np.sort(np.random.default_rng(seed).uniform(end_days, start_days, n))[::-1]
    frame.insert(0, "at", now - pd.to_timedelta(ages, unit="D"))
    frame.insert(0, "uid", [f"s{seed}-{i}" for i in range(n)])
    return frame


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A binary system with ids, timestamps up to a few days ago, feature code, a reviewed
    schema and a gate; its registry and log are set per copy."""
    folder = tmp_path_factory.mktemp("selftest-monitor") / "system"
    write_system(
        folder,
        timed_frame(1500, 0, 360, 12),
        timed_frame(600, 1, 12, 2),
        files={"sysfeatures.py": FEATURES},
        sections={
            "system": {"id": "uid", "timestamp": "at"},
            "model": {"features": "sysfeatures:build"},
            "gate": {"min": {"roc_auc": 0.6}, "max_regression": {"roc_auc": 0.01}},
            "registry": {"model": "selftested"},
            "serve": {"poll_seconds": 0.3},
            "staleness": {"max_age_periods": 3},
            "drill": {"load_seconds": 1.0, "max_seconds": 10.0, "concurrency": 3},
        },
    )
    infer_schema(folder)
    return folder


def make_copy(base: Path, folder: Path) -> Copy:
    """A scratch copy of `base` as the selftest runner makes one: its own registry and log
    under <copy>/.selftest, written into its keel.toml."""
    shutil.copytree(base, folder)
    config = folder / "keel.toml"
    uri = f"sqlite:///{folder}/.selftest/registry.db"
    log = folder / ".selftest" / "log"
    traffic.set_config_key(config, "registry", "uri", uri)
    traffic.set_config_key(config, "data", "serving_log", str(log))
    return Copy(folder, config, uri, log)


def check(copy: Copy, practice: str):
    return run_check(System.from_path(copy.config_file), practice)


@pytest.fixture(scope="module")
def served(base, tmp_path_factory) -> Copy:
    copy = make_copy(base, tmp_path_factory.mktemp("served") / "copy")
    with threadpool_limits(1):
        setup_served(copy)
    return copy


@pytest.fixture(scope="module")
def operated(base, tmp_path_factory) -> Copy:
    copy = make_copy(base, tmp_path_factory.mktemp("operated") / "copy")
    with threadpool_limits(1):
        setup_operated(copy)
    return copy


def test_the_served_setup_serves_through_a_real_server_and_writes_labels(served):
    records = traffic.served_records(served)
    assert len(records) >= 250 and {r["model_version"] for r in records} == {2}
    assert all(r["model_inputs"]["x1_x2"] == pytest.approx(
        r["inputs"]["x1"] * r["inputs"]["x2"]) for r in records)  # fmt: skip
    assert served.notes["champion"] == 2 and served.notes["earlier"] == 1
    assert 'labels = ".selftest/labels.parquet"' in served.config_file.read_text()
    setup_served(served)  # a second call does nothing: the copy is set up
    assert len(traffic.served_records(served)) == len(records)


def test_the_operated_setup_records_a_real_canary_and_a_real_drill(operated):
    from keel.registry.audit import history
    from keel.training import registry_ref

    kinds = [e.kind for e in history(registry_ref(System.from_path(operated.config_file)))]
    assert operated.notes["canary_passed"], operated.notes["canary_reasons"]
    assert operated.notes["drill_passed"]
    assert "canary-pass" in kinds and "drill" in kinds


BY_PRACTICE = {f.practice: f for f in FAULTS}


def test_every_fault_of_the_brief_is_in_the_catalogue():
    practices = [f.practice for f in FAULTS]
    assert practices == [f"monitor.{i}" for i in range(1, 8)] + ["infra.6", "infra.7"]
    assert len({f.id for f in FAULTS}) == len(FAULTS)
    assert {f.practice for f in FAULTS if f.setup is setup_operated} == {"infra.6", "infra.7"}


def caught_in_turn(copy: Copy, practices: list[str]) -> dict[str, tuple[str, str]]:
    """On one set-up copy, each practice in turn: its check passes, its fault is planted, its
    check fails. An earlier fault must leave a later check passing: the order is chosen so
    (the runner plants each on a copy of its own). {practice: (clean, faulty) summaries}."""
    seen = {}
    for practice in practices:
        clean = check(copy, practice)
        assert clean.status == "pass", (practice, clean.summary)
        with threadpool_limits(1):
            BY_PRACTICE[practice].plant(copy)
        faulty = check(copy, practice)
        assert faulty.status == "fail", (practice, copy.notes.get("planted"), faulty.summary)
        seen[practice] = (clean.summary, faulty.summary)
    return seen


def test_each_monitoring_check_passes_its_setup_and_fails_its_fault(served):
    seen = caught_in_turn(
        served,
        ["monitor.7", "monitor.5", "monitor.6", "monitor.3", "monitor.2", "monitor.1", "monitor.4"],
    )
    assert "quality dropped" in seen["monitor.7"][1]
    assert "outputs.proba_1" in seen["monitor.5"][1]
    assert "served latency p50 leaked" in seen["monitor.6"][1]
    assert "x1 in " in seen["monitor.3"][1] or "x1 (" in seen["monitor.3"][1]
    assert "anomalous rows: x1 in" in seen["monitor.2"][1]  # a model input, not the id
    assert "package numpy: 0.0.1" in seen["monitor.1"][1]
    assert "over model.4's limit" in seen["monitor.4"][1]


def test_infra_6_and_7_pass_their_setup_and_fail_their_faults(operated):
    seen = caught_in_turn(operated, ["infra.7", "infra.6"])
    assert "requests failed" in seen["infra.7"][1]
    assert "without a canary" in seen["infra.6"][1]


def test_a_fault_planted_before_any_check_ran_is_caught_as_the_runner_plants_it(base, tmp_path):
    """The runner's order on a fresh copy: setup, plant, then the one check (the served and
    the planted records taken by one intake)."""
    copy = make_copy(base, tmp_path / "copy")
    fault = BY_PRACTICE["monitor.3"]
    with threadpool_limits(1):
        fault.setup(copy)
        fault.plant(copy)
    evidence = check(copy, fault.practice)
    assert evidence.status == "fail", (copy.notes.get("planted"), evidence.summary)


def test_set_config_key_replaces_adds_and_appends_keeping_other_lines(tmp_path):
    config = tmp_path / "keel.toml"
    config.write_text('# a comment\n[data]\ntrain = "t.parquet"  # kept\nlabels = "old"\n')
    traffic.set_config_key(config, "data", "labels", "new.parquet")
    traffic.set_config_key(config, "data", "serving_log", "/x/log")
    traffic.set_config_key(config, "registry", "uri", "sqlite:////x/r.db")
    assert config.read_text() == (
        '# a comment\n[data]\nserving_log = "/x/log"\ntrain = "t.parquet"  # kept\n'
        'labels = "new.parquet"\n\n[registry]\nuri = "sqlite:////x/r.db"\n'
    )


def test_a_missed_fault_is_explained_by_too_few_labels_or_rows():
    from keel.selftest.faults_monitor import weak_without_labels, weak_without_windows

    assert "min_labels" in weak_without_labels({}, {"judged_by_labels": 0})
    assert weak_without_labels({}, {"judged_by_labels": 2}) is None
    assert "min_rows" in weak_without_windows({}, {"windows_judged": 0})
    assert weak_without_windows({}, {"windows_judged": ["2026-12-07"]}) is None


def test_a_system_without_a_schema_cannot_be_served_so_its_faults_are_not_applicable(
    base, tmp_path
):
    from keel.selftest.fault import NotApplicable

    copy = make_copy(base, tmp_path / "copy")
    (copy.root / "keel.schema.yaml").unlink()
    for setup in (setup_served, setup_operated):
        with pytest.raises(NotApplicable, match="no schema file"):
            setup(copy)
    assert not (copy.root / ".selftest" / "registry.db").exists()  # nothing was registered
