"""Registering a trained model as a new version: its run, artefact, lineage and metrics.

    with training_run(ref, name="train credit", config_file=path) as run:
        ...train, and gather a `Candidate` (keel.training does it from a System)...
        version = register(run, candidate)

`training_run` opens the run before training, tagged with this process's id and host, with
keel.toml logged: an interruption (Ctrl-C) or a failure inside the block ends it as KILLED or
FAILED and removes its artefacts and temporary folder; a process killed outright is found by
the next registry operation (see `keel.registry.recovery`). An unreachable registry fails
before anything is trained.

`register` saves the model as a pyfunc artefact (see `keel.registry.artefact`), loads it back
and refuses it unless it reproduces the trained model's predictions, then logs it with the
lineage as tags (and `keel/lineage.json`), the parameters and seed as run parameters, and the
metrics (plus the training time and peak memory) as run metrics, and registers it as a new
version of the model.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from keel.dependencies import distribution_closure
from keel.errors import RegistryError
from keel.registry._mlflow import quiet
from keel.registry.artefact import TrainedModel, predict_raw, save_model
from keel.registry.lineage import LINEAGE_TAG, Lineage, lineage_tags
from keel.registry.recovery import TEMP_PREFIX, abandon, owner_tags
from keel.registry.ref import RegistryRef
from keel.registry.store import Store, connect, translated
from keel.registry.versions import ModelVersion, as_predictions, describe, registered

with quiet():
    import mlflow.pyfunc
    from mlflow.entities import Metric, Param

if TYPE_CHECKING:
    from keel.model.metrics import Predictions

__all__ = ["Candidate", "TrainingRun", "register", "training_run"]


@dataclass(frozen=True)
class Candidate:
    """A trained model and what is recorded with it, as plain data.

    `lineage` leaves `requirements` to the registry (it pins them when saving the artefact);
    `metrics` are the metrics on the evaluation data (training time and peak memory are added
    from the lineage); the saved artefact must predict raw evaluation rows `rows` as
    `expected`, the trained model's predictions of them; `description` goes on the version.
    """

    model: TrainedModel
    lineage: Lineage
    metrics: dict[str, float]
    rows: pd.DataFrame
    expected: Predictions
    description: str


@dataclass(frozen=True)
class TrainingRun:
    """An open training run: the store, the MLflow run and a temporary folder of this
    process for the artefact."""

    store: Store
    run: Any
    folder: Path


@contextmanager
def training_run(
    ref: RegistryRef, *, name: str, config_file: Path | None = None
) -> Iterator[TrainingRun]:
    """Open a run for a training (see the module docstring); end it when the block ends."""
    store = connect(ref)  # an unreachable registry fails before training
    with translated(store.uri):
        client = store.client
        experiment = store.experiment(f"keel/{store.model}")
        run = client.create_run(
            experiment, run_name=name, tags={**owner_tags(), "keel.kind": "train"}
        )
    run_id = run.info.run_id
    try:
        with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
            if config_file is not None and config_file.is_file():
                with translated(store.uri):
                    client.log_artifact(run_id, str(config_file), "keel")
            yield TrainingRun(store, run, Path(tmp))
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        abandon(client, run_id, status, artifacts=store.artifacts)
        raise
    with translated(store.uri):
        client.set_terminated(run_id)


def register(run: TrainingRun, candidate: Candidate) -> ModelVersion:
    """Save, check and log a candidate into the training run; register it as a new version."""
    store = run.store
    model_dir, pinned = save_model(candidate.model, run.folder)
    _check_artefact(model_dir, candidate.rows, candidate.expected)
    record: Lineage = {
        **candidate.lineage,
        "requirements": pinned,
        "environment": distribution_closure(pinned),
    }
    metrics = dict(candidate.metrics)
    metrics["train_seconds"] = record["train_seconds"]
    if record["peak_memory_mb"] is not None:
        metrics["peak_memory_mb"] = record["peak_memory_mb"]
    params = {str(k): str(v)[:500] for k, v in record["params"].items()}
    params["seed"] = str(record["seed"])
    tags = lineage_tags(record)
    run_id = run.run.info.run_id
    with translated(store.uri):
        client = store.client
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        _log(client, run_id, params, metrics)
        client.log_artifacts(run_id, str(model_dir), "model")
        client.log_dict(run_id, record, "keel/lineage.json")
        with store.locked():
            if registered(store) is None:
                client.create_registered_model(store.model)
            mv = client.create_model_version(
                store.model,
                source=f"{run.run.info.artifact_uri}/model",
                run_id=run_id,
                tags={**tags, LINEAGE_TAG: json.dumps(record, sort_keys=True)},
                description=candidate.description,
            )
        return describe(store, client.get_model_version(store.model, mv.version))


def _check_artefact(model_dir: Path, rows: pd.DataFrame, expected: Predictions) -> None:
    """Refuse an artefact that does not reproduce the trained model on evaluation rows."""
    saved_path = list(sys.path)
    try:
        with quiet():
            model = mlflow.pyfunc.load_model(str(model_dir), suppress_warnings=True)
            got = as_predictions(model, predict_raw(model, rows))
    except Exception as exc:
        raise RegistryError(
            f"the saved model cannot predict evaluation rows: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        sys.path[:] = saved_path  # MLflow put the temporary copy of the code first
        _forget_modules_under(model_dir.parent)  # saving and loading imported from there
    same = np.array_equal(got.labels, expected.labels) and (
        expected.proba is None or np.allclose(got.proba, expected.proba, rtol=0, atol=1e-9)
    )
    if not same:
        raise RegistryError(
            "the saved model does not reproduce the trained model's predictions on the "
            "evaluation rows; is the feature function deterministic?"
        )


def _forget_modules_under(folder: Path) -> None:
    """Drop modules imported from `folder` (the model's entry and the temporary copy of the
    user's code, loaded by MLflow): the folder is deleted next, and nothing may keep running
    or hashing code from there."""
    folder = folder.resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(folder):
            del sys.modules[name]


def _log(client: Any, run_id: str, params: dict[str, str], metrics: dict[str, float]) -> None:
    now = int(time.time() * 1000)
    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i : i + 100])
    points = [Metric(k, float(v), now, 0) for k, v in metrics.items() if math.isfinite(v)]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i : i + 1000])
