"""The model registry on a real MLflow store (SQLite in a temporary folder): registering,
loading in a fresh process, the gate, forced promotion, rollback, concurrency and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest
from systems import binary_frame, write_system
from threadpoolctl import threadpool_limits

from keel.config import parse_config
from keel.history import history, promote, rollback
from keel.registry import (
    RegistryError,
    champion,
    connect,
    get_version,
    list_versions,
    load_model,
    load_version,
    predict_raw,
    tracking_uri,
    train_and_register,
)
from keel.system import System

FEATURES = """
def build(raw):
    out = raw[["x1", "x2", "group"]].copy()
    out["x1_x2"] = raw["x1"] * raw["x2"]
    return out
"""
GATE = {"min": {"roc_auc": 0.6}, "max_regression": {"roc_auc": 0.01}}
WEAK = {"params": {"max_iter": 2, "max_depth": 1, "learning_rate": 0.05}}


def variant(system: System, **sections: dict) -> System:
    """The same system (folder, data, cache) with some keel.toml sections changed."""
    data = system.config.model_dump(mode="json", by_alias=True)
    for name, keys in sections.items():
        data[name] = {**data.get(name, {}), **keys}
    return System(parse_config(data), system.root, config_file=system.config_file)


def named(system: System, name: str, **sections: dict) -> System:
    """The system registering under another model name (a fresh registry history)."""
    return variant(system, registry={"model": name}, **sections)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> System:
    """A system with a feature function, registering into a shared SQLite store."""
    root = tmp_path_factory.mktemp("registry")
    path = write_system(
        root / "credit",
        binary_frame(1500),
        binary_frame(800, seed=1),
        files={"sysfeatures.py": FEATURES},
        sections={
            "model": {"features": "sysfeatures:build"},
            "slices": {"columns": ["group"]},
            "gate": GATE,
            "registry": {"uri": f"sqlite:///{root}/store/mlflow.db", "model": "credit"},
        },
    )
    with threadpool_limits(1):
        system = System.from_path(path)
        system.trained  # noqa: B018
    return system


@pytest.fixture(scope="module")
def first(good) -> object:
    return train_and_register(good)


def register_pair(good: System, model: str) -> tuple[int, int]:
    """Register a good and a much weaker version of the system under `model`."""
    strong = train_and_register(named(good, model)).version
    weak = train_and_register(named(good, model, model=WEAK)).version
    return strong, weak


def state(system: System) -> dict:
    """Aliases, version tags and events: what must not change on bad input."""
    store = connect(system)
    versions = {v.version: (v.aliases, v.tags) for v in list_versions(system)}
    return {"versions": versions, "events": len(history(system)), "model": store.model}


def test_registered_version_carries_lineage_metrics_and_parameters(good, first):
    assert first.name == "credit" and first.version >= 1
    lineage = first.lineage
    assert lineage["train_entry"] == "sysmodel:train"
    assert lineage["features_entry"] == "sysfeatures:build"
    assert lineage["params"] == {"max_iter": 50} and lineage["seed"] == 1
    assert lineage["data"]["train"]["rows"] == 1500 and lineage["data"]["eval"]["rows"] == 800
    assert lineage["data"]["eval"]["content_hash"] == good.fingerprint()["eval"]
    assert len(lineage["config_sha256"]) == 64 and lineage["train_seconds"] > 0
    assert lineage["peak_memory_mb"] > 0
    assert any(r.startswith("scikit-learn==") for r in lineage["requirements"])
    assert first.metrics["roc_auc"] == pytest.approx(good.trained.metric)
    assert {"slice.group.a.roc_auc", "slice.group.b.roc_auc", "accuracy"} <= set(first.metrics)
    assert first.tags["keel.data.train.rows"] == "1500"
    assert first.tags["keel.git_commit"].startswith("none")  # a temporary folder: no git
    run = connect(good).client.get_run(first.run_id)
    assert run.data.params["max_iter"] == "50" and run.data.params["seed"] == "1"


def test_model_loaded_in_a_fresh_process_predicts_raw_rows_like_the_offline_model(
    good, first, tmp_path
):
    raw = good.dataset("eval").raw.drop(columns=["y"])  # served rows have no label
    raw.to_parquet(tmp_path / "rows.parquet")
    script = textwrap.dedent(
        """
        import sys, mlflow.pyfunc, pandas as pd
        model = mlflow.pyfunc.load_model(sys.argv[1])
        model.predict(pd.read_parquet(sys.argv[2])).to_parquet(sys.argv[3])
        """
    )
    elsewhere = tmp_path / "elsewhere"  # neither the system's folder nor its code on the path
    elsewhere.mkdir()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, first.source, str(tmp_path / "rows.parquet"), "out.pq"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - start < 60
    served = pd.read_parquet(elsewhere / "out.pq")
    offline = good.trained.predictions
    assert list(served.columns) == ["prediction", "proba_0", "proba_1"]
    np.testing.assert_array_equal(served["prediction"].to_numpy(), offline.labels)
    np.testing.assert_allclose(served["proba_1"].to_numpy(), offline.proba[:, 1], atol=1e-12)


def test_load_model_and_predict_raw_in_process_match_offline(good, first):
    model = load_model(good, first.version)
    out = predict_raw(model, good.dataset("eval").raw.head(50))
    np.testing.assert_allclose(out["proba_1"], good.trained.predictions.proba[:50, 1])


def test_versions_are_listed_newest_first_and_found_by_number_or_alias(good, first):
    system = named(good, "listing")
    assert list_versions(system) == [] and champion(system) is None
    one = train_and_register(system)
    two = train_and_register(system)
    assert [v.version for v in list_versions(system)] == [two.version, one.version]
    assert get_version(system, f"v{one.version}").run_id == one.run_id
    promote(system, one.version, who="tester")
    assert champion(system).version == one.version
    assert get_version(system, "champion").aliases == ["champion"]


def test_gate_refuses_a_regressed_model_and_records_why(good):
    system = named(good, "gate")
    strong, weak = register_pair(good, "gate")
    assert promote(system, strong, who="ana").promoted
    verdict = promote(system, weak, who="ben")
    assert not verdict.passed and not verdict.promoted
    assert verdict.champion == strong
    assert verdict.metrics["roc_auc"] < verdict.champion_metrics["roc_auc"] - 0.01
    assert "below the champion's" in verdict.failures[0] and "max_regression" in verdict.failures[0]
    assert champion(system).version == strong  # unchanged
    recorded = get_version(system, weak)
    assert recorded.tags["keel.gate.passed"] == "false"
    assert recorded.tags["keel.gate.who"] == "ben"
    assert recorded.verdict["failures"] == verdict.failures
    assert recorded.verdict["thresholds"] == {
        "min": {"roc_auc": 0.6},
        "max_regression": GATE["max_regression"],
    }
    newest = history(system)[0]
    assert (newest.kind, newest.version, newest.previous, newest.champion) == (
        "refused",
        weak,
        strong,
        strong,
    )


def test_gate_floor_refuses_the_first_version_and_notes_the_skipped_regression_check(good):
    system = named(good, "floor", gate={"min": {"roc_auc": 0.99}})
    version = train_and_register(system).version
    verdict = promote(system, version)
    assert not verdict.promoted
    assert verdict.failures == [
        f"roc_auc {verdict.metrics['roc_auc']:.4f} is below the floor 0.99 ([gate] min)"
    ]
    assert verdict.notes == ["no champion yet: the regression limits were not applied"]
    assert champion(system) is None


def test_force_without_reason_is_refused_and_changes_nothing(good):
    system = named(good, "force-no-reason")
    strong, weak = register_pair(good, "force-no-reason")
    promote(system, strong)
    before = state(system)
    for reason in (None, "  "):
        with pytest.raises(RegistryError, match="needs a reason"):
            promote(system, weak, force=True, reason=reason)
    assert state(system) == before


def test_force_with_reason_promotes_and_records_the_reason(good):
    system = named(good, "forced")
    strong, weak = register_pair(good, "forced")
    promote(system, strong)
    verdict = promote(system, weak, force=True, reason="hotfix for incident 42", who="cy")
    assert verdict.promoted and verdict.forced and not verdict.passed
    assert champion(system).version == weak
    tags = get_version(system, weak).tags
    assert tags["keel.gate.reason"] == "hotfix for incident 42"
    assert tags["keel.gate.forced"] == "true"
    event = history(system)[0]
    assert (event.kind, event.reason, event.who) == (
        "force-promote",
        "hotfix for incident 42",
        "cy",
    )


def test_rollback_restores_the_previous_champion_and_is_recorded(good):
    system = named(good, "rollback")
    strong, weak = register_pair(good, "rollback")
    promote(system, strong)
    promote(system, weak, force=True, reason="try it")
    event = rollback(system, who="dee", reason="worse online")
    assert champion(system).version == strong
    assert (event.kind, event.version, event.previous, event.champion) == (
        "rollback",
        strong,
        weak,
        strong,
    )
    assert history(system)[0] == event
    note = json.loads(get_version(system, strong).tags["keel.rollback"])
    assert note == {"from": weak, "who": "dee", "when": event.when, "reason": "worse online"}


def test_rollback_with_no_earlier_champion_is_an_error_and_changes_nothing(good):
    system = named(good, "no-earlier")
    with pytest.raises(RegistryError, match="no earlier champion to roll back to"):
        rollback(system)
    version = train_and_register(system).version
    promote(system, version)
    before = state(system)
    with pytest.raises(RegistryError, match="no earlier champion to roll back to"):
        rollback(system)
    assert state(system) == before


def test_rollback_to_a_version_that_never_served_is_refused(good):
    system = named(good, "never-served")
    strong, weak = register_pair(good, "never-served")
    promote(system, strong)
    before = state(system)
    with pytest.raises(RegistryError, match="never been the champion.*keel promote"):
        rollback(system, to=weak)
    assert state(system) == before


def test_unknown_version_is_a_clear_error(good, first):
    with pytest.raises(RegistryError, match=r"model 'credit' has no version 999; its versions"):
        get_version(good, 999)
    with pytest.raises(RegistryError, match="has no version or alias 'canary'"):
        promote(good, "canary")


def test_unreachable_server_is_a_clear_error_at_once(good):
    system = variant(good, registry={"uri": "http://127.0.0.1:9"})
    start = time.perf_counter()
    with pytest.raises(
        RegistryError, match='cannot reach the MLflow server at "http://127.0.0.1:9"'
    ):
        train_and_register(system)
    assert time.perf_counter() - start < 10


def test_unwritable_database_path_is_a_clear_error(good, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    system = variant(good, registry={"uri": f"sqlite:///{tmp_path}/afile/mlflow.db"})
    with pytest.raises(RegistryError, match="cannot keep the registry database"):
        list_versions(system)


@pytest.mark.parametrize("damage", ["overwrite", "delete"])
def test_corrupt_artefact_is_refused_and_the_registry_unchanged(good, damage):
    system = named(good, f"corrupt-{damage}")
    strong, weak = register_pair(good, f"corrupt-{damage}")
    promote(system, strong)
    pickle = Path(unquote(urlparse(get_version(system, weak).source).path))
    pickle = pickle / "artifacts" / "estimator.pkl"
    if damage == "overwrite":
        pickle.write_bytes(b"not the model that was registered")
    else:
        pickle.unlink()
    before = state(system)
    with pytest.raises(RegistryError, match=f"version {weak} of '{system.config.registry.model}'"):
        load_model(system, weak)
    with pytest.raises(RegistryError, match="missing or corrupt"):
        promote(system, weak, force=True, reason="anyway")
    assert state(system) == before


def test_concurrent_promotions_leave_exactly_one_champion_and_a_consistent_history(good):
    folder = good.root.parent / "race"
    registry = {"uri": good.config.registry.uri, "model": "race"}
    path = write_system(
        folder, binary_frame(600), binary_frame(300, seed=1), sections={"registry": registry}
    )
    system = System.from_path(path)
    versions = [train_and_register(system).version for _ in range(3)]
    go = folder / "go"
    script = textwrap.dedent(
        """
        import sys, time, pathlib
        from keel.history import promote
        from keel.registry import connect
        from keel.system import System
        system = System.from_path(sys.argv[1])
        connect(system)  # warm up (imports, database engine): then all race for the lock
        pathlib.Path(sys.argv[2] + ".ready." + sys.argv[3]).touch()
        while not pathlib.Path(sys.argv[2]).exists():
            time.sleep(0.005)
        print(promote(system, sys.argv[3], who="proc" + sys.argv[3]).promoted)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # three processes share two cores
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(go), str(v)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for v in versions
    ]

    deadline = time.monotonic() + 120
    while not all((folder / f"go.ready.{v}").exists() for v in versions):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.02)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    events = sorted(history(system), key=lambda e: e.seq)
    assert [e.seq for e in events] == [1, 2, 3]
    assert sorted(e.version for e in events) == versions
    assert events[0].previous is None
    for before, after in zip(events, events[1:], strict=False):
        assert after.previous == before.champion  # each change saw the one before it
    holders = [v for v in list_versions(system) if "champion" in v.aliases]
    assert len(holders) == 1 and holders[0].version == events[-1].champion


def test_tracking_uri_resolves_relative_sqlite_paths_against_the_system_folder(tmp_path):
    root = tmp_path / "sys"
    assert tracking_uri("sqlite:///.keel/mlflow.db", root) == (
        f"sqlite:///{root.resolve()}/.keel/mlflow.db?timeout=30"
    )
    assert tracking_uri("sqlite:////abs/m.db", root) == "sqlite:////abs/m.db?timeout=30"
    assert tracking_uri("sqlite:////abs/m.db?timeout=5", root) == "sqlite:////abs/m.db?timeout=5"
    assert tracking_uri("http://mlflow.example:5000", root) == "http://mlflow.example:5000"


def test_an_artefact_held_remotely_is_downloaded_once_and_loaded(good, first):
    store = connect(good)
    remote = SimpleNamespace(source=f"runs:/{first.run_id}/model", version=first.version)
    model = load_version(store, remote)
    out = predict_raw(model, good.dataset("eval").raw.head(20))
    np.testing.assert_allclose(out["proba_1"], good.trained.predictions.proba[:20, 1])
    folder = good.keel_dir / "models" / f"credit-v{first.version}"
    assert (folder / ".downloaded").is_file()
    assert load_version(store, remote) is not model  # loaded again from the download
