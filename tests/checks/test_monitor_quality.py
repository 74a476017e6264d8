"""monitor.7 and model.2 on real registered versions, real prediction logs and Parquet labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from registries import FEATURES, GATE, WEAK, variant
from systems import binary_frame, write_system
from threadpoolctl import threadpool_limits

from keel.checks.model import model_2
from keel.checks.monitor import monitor_7
from keel.registry.artefact import predict_raw
from keel.registry.canary import end_canary, start_canary
from keel.registry.promotion import promote
from keel.registry.versions import load_model
from keel.serve.predlog import PredictionLog, segments_dir
from keel.system import System
from keel.training import gate_inputs, registry_ref, train_and_register


def with_ids(n: int, seed: int) -> pd.DataFrame:
    frame = binary_frame(n, seed=seed)
    frame.insert(0, "uid", [f"s{seed}-{i}" for i in range(n)])
    return frame


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> System:
    root = tmp_path_factory.mktemp("quality")
    path = write_system(
        root / "credit",
        with_ids(1500, 0),
        with_ids(800, 1),
        files={"sysfeatures.py": FEATURES},
        sections={
            "system": {"id": "uid"},
            "model": {"features": "sysfeatures:build"},
            "gate": GATE,
            "registry": {"uri": f"sqlite:///{root}/store/mlflow.db", "model": "credit"},
        },
    )
    with threadpool_limits(1):
        system = System.from_path(path)
        system.trained  # noqa: B018
    return system


def scenario(base: System, name: str, labels: pd.DataFrame | None = None, **more) -> System:
    """The base system registering as `name`, with its own prediction log and labels."""
    data = {"serving_log": f".keel/logs-{name}", "labels": None}
    if labels is not None:
        labels.to_parquet(base.root / "data" / f"labels-{name}.parquet")
        data["labels"] = f"data/labels-{name}.parquet"
    return variant(base, data=data, registry={"model": name}, **more)


def champion_of(base: System, name: str, **model) -> int:
    trained = variant(base, registry={"model": name}, **({"model": model} if model else {}))
    version = train_and_register(trained).version
    assert promote(registry_ref(trained), version, gate_inputs(base)).promoted
    return version


def log(system: System, frame: pd.DataFrame, proba: np.ndarray, version: int, day: int) -> None:
    """Served records of `frame`'s rows with positive-class probabilities `proba`."""
    records = [
        {
            "request_id": f"{uid}-{day}",
            "row": 0,
            "example_id": uid,
            "time": f"2026-11-{day:02d}T{(i % 24):02d}:{(i // 24) % 60:02d}:00+00:00",
            "model_version": version,
            "route": "champion",
            "inputs": {"x1": float(x1)},
            "model_inputs": {"x1": float(x1)},
            "prediction": int(p > 0.5),
            "probabilities": {"0": float(1 - p), "1": float(p)},
            "latency_seconds": 0.002,
        }
        for i, (uid, x1, p) in enumerate(zip(frame["uid"], frame["x1"], proba, strict=True))
    ]
    root = system.root / system.config.data.serving_log
    with PredictionLog(segments_dir(root), segment_bytes=500_000) as out:
        for start in range(0, len(records), 50):
            out.append(records[start : start + 50])


def served_proba(
    system: System, frame: pd.DataFrame, version: int | str = "champion"
) -> np.ndarray:
    model = load_model(registry_ref(system), version)
    return predict_raw(model, frame)["proba_1"].to_numpy(dtype=float)


# -- monitor.7 -------------------------------------------------------------------------------
@pytest.mark.parametrize("broken", [False, True])
def test_monitor_7_with_labels_fails_on_a_drop_below_the_offline_metric(base, broken):
    name = f"m7-labels-{broken}"
    version = champion_of(base, name)
    served = with_ids(1000, 7)
    labels = served[["uid", "y"]].copy()
    if broken:  # the world changed on day 2: 40% of its labels flipped
        flip = np.arange(len(labels)) >= 500
        flip &= np.random.default_rng(1).random(len(labels)) < 0.4
        labels.loc[flip, "y"] = 1 - labels.loc[flip, "y"]
    system = scenario(base, name, labels)
    proba = served_proba(system, served)
    log(system, served.iloc[:500], proba[:500], version, 1)
    log(system, served.iloc[500:], proba[500:], version, 2)
    evidence = monitor_7(system)
    assert evidence.facts["judged_by_labels"] == 2
    if broken:
        assert evidence.status == "fail"
        assert "2026-11-02" in evidence.summary and f"v{version}" in evidence.summary
        assert "online against" in evidence.summary
    else:
        assert evidence.status == "pass", evidence.summary
    assert evidence.figures and evidence.figures[0].reference


@pytest.mark.parametrize("uncertain", [False, True])
def test_monitor_7_without_labels_fails_when_confidence_collapses(base, uncertain):
    name = f"m7-cbpe-{uncertain}"
    version = champion_of(base, name)
    system = scenario(base, name)
    served = with_ids(800, 9)
    proba = served_proba(system, served)
    if uncertain:  # the same classes, with far less confidence
        proba = 0.5 + 0.15 * (proba - 0.5)
    log(system, served, proba, version, 3)
    evidence = monitor_7(system)
    assert "ece" in evidence.facts and "calibrated" in evidence.summary
    if uncertain:
        assert evidence.status == "fail" and "estimated roc_auc dropped" in evidence.summary
    else:
        assert evidence.status == "pass", evidence.summary
        assert "Set [data] labels" in evidence.hint


# -- model.2 ---------------------------------------------------------------------------------
def three_versions(base: System, name: str) -> tuple[System, list[int]]:
    """Three registered versions (strong, medium, weak offline) of the model `name`."""
    versions = []
    for model in ({}, {"params": {"max_iter": 4}}, WEAK):
        trained = variant(base, registry={"model": name}, **({"model": model} if model else {}))
        versions.append(train_and_register(trained).version)
    return variant(base, registry={"model": name}), versions


@pytest.mark.parametrize("agree", [True, False])
def test_model_2_correlates_offline_and_online_ranks_across_versions(base, agree):
    name = f"m2-rank-{agree}"
    system, versions = three_versions(base, name)
    served = with_ids(1200, 11)
    truth = served_proba(system, served, versions[0])
    rng = np.random.default_rng(2)
    noise = [0.05, 0.25, 0.6] if agree else [0.6, 0.25, 0.05]  # more noise, worse online
    labels = served[["uid"]].copy()
    labels["y"] = (rng.random(len(served)) < truth).astype(int)
    system = scenario(base, name, labels)
    for k, (version, sd) in enumerate(zip(versions, noise, strict=True)):
        part = slice(400 * k, 400 * (k + 1))
        p = np.clip(truth[part] + rng.normal(0, sd, 400), 0.001, 0.999)
        log(system, served.iloc[part], p, version, 4)
    evidence = model_2(system)
    assert evidence.facts["versions"] == 3
    assert evidence.status == ("pass" if agree else "fail"), evidence.summary
    assert len(evidence.tables[0].rows) == 3 and evidence.figures


@pytest.mark.parametrize("agree", [True, False])
def test_model_2_falls_back_on_the_champions_canary(base, agree):
    name = f"m2-canary-{agree}"
    strong = train_and_register(variant(base, registry={"model": name})).version
    weak = train_and_register(variant(base, registry={"model": name}, model=WEAK)).version
    ref = registry_ref(variant(base, registry={"model": name}))
    assert promote(ref, weak, gate_inputs(base)).promoted
    start_canary(ref, strong, 0.2)
    online = (0.70, 0.80) if agree else (0.80, 0.70)  # (champion, candidate) on labelled rows
    end_canary(
        ref,
        True,
        {
            "metric": "roc_auc",
            "champion": {"version": weak, "quality": online[0], "labelled": 400},
            "candidate": {"version": strong, "quality": online[1], "labelled": 90},
            "comparisons": [],
        },
    )
    assert promote(ref, strong, gate_inputs(base)).promoted
    evidence = model_2(scenario(base, name))
    assert evidence.status == ("pass" if agree else "fail"), evidence.summary
    assert "canary" in evidence.summary and evidence.facts["canary_event"]


def test_model_2_without_labels_or_canary_is_not_configured(base):
    evidence = model_2(scenario(base, "m2-nothing"))
    assert evidence.status == "not_configured" and "[data] labels" in evidence.hint
