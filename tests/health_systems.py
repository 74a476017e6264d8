"""Helpers of the monitor.1/4/5/6 tests: a system copied to its own folder (its own registry,
prediction log and monitor state), versions cloned with a changed lineage or tags, the serving
alias set, and prediction-log records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from keel.log.writer import PredictionLog, segments_dir
from keel.registry.store import connect, translated
from keel.registry.versions import CHAMPION, ModelVersion
from keel.system import System
from keel.training import registry_ref, train_and_register


def own_copy(system: System, folder: Path) -> System:
    """The system copied to `folder` (its data, code and keel.toml; the registry moved under
    the folder): registered and served apart from every other test."""
    shutil.copytree(system.root, folder, ignore=shutil.ignore_patterns(".keel", "store"))
    toml = folder / "keel.toml"
    text = toml.read_text()
    old = str(system.config.registry.uri)
    toml.write_text(text.replace(old, f"sqlite:///{folder}/store/mlflow.db"))
    with threadpool_limits(1):
        copy = System.from_path(folder)
        copy.trained  # noqa: B018
    return copy


def register(system: System) -> ModelVersion:
    with threadpool_limits(1):
        return train_and_register(system)


def serve(system: System, version: int) -> None:
    """Make `version` the champion (the alias alone, as the MLflow UI would)."""
    store = connect(registry_ref(system))
    with translated(store.uri):
        store.client.set_registered_model_alias(store.model, CHAMPION, str(version))


def set_tags(system: System, version: int, tags: dict[str, str]) -> None:
    store = connect(registry_ref(system))
    with translated(store.uri):
        for key, value in tags.items():
            store.client.set_model_version_tag(store.model, str(version), key, value)


def clone(
    system: System, base: ModelVersion, tags: dict[str, str] | None = None, **lineage: Any
) -> int:
    """A new version with `base`'s artefact and run, its lineage changed by `lineage`."""
    record = {**base.lineage, **lineage}
    store = connect(registry_ref(system))
    with translated(store.uri):
        mv = store.client.create_model_version(
            store.model,
            source=base.source,
            run_id=base.run_id,
            tags={"keel.lineage": json.dumps(record, sort_keys=True), **(tags or {})},
        )
    return int(mv.version)


def log(system: System, records: list[dict[str, Any]]) -> None:
    """Append records to the system's prediction log, as the server writes them."""
    root = system.root / system.config.data.serving_log
    with PredictionLog(segments_dir(root)) as writer:
        for start in range(0, len(records), 50):
            writer.append(records[start : start + 50])


def record(i: int, version: int, **fields: Any) -> dict[str, Any]:
    """One served row of the binary test system."""
    row = {
        "request_id": f"r{version}-{i}",
        "row": 0,
        "example_id": f"e{i}",
        "time": f"2026-11-01T{(i % 24):02d}:{(i // 24) % 60:02d}:00+00:00",
        "model_version": version,
        "route": "champion",
        "inputs": {"x1": 0.5, "x2": -0.5, "group": "abc"[i % 3]},
        "model_inputs": {"x1": 0.5, "x2": -0.5, "group": "abc"[i % 3], "x1_x2": -0.25},
        "prediction": i % 2,
        "probabilities": {"0": 0.25, "1": 0.75},
        "latency_seconds": 0.01,
        "anomalies": [],
        "nonfinite": [],
    }
    return {**row, **fields}
