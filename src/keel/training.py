"""The one adapter from a `System` to the registry: `keel train`, and what the gate judges on.

`keel.registry` never sees a System. This module reads one and hands the registry plain data:

    registry_ref(system)          which registry and model (`[registry] uri` and `model`)
    train_and_register(system)    trains (`system.trained`, cached) and registers a version:
                                  the artefact's parts, the lineage, the metrics overall and
                                  per configured slice, the rows the artefact must reproduce
    gate_inputs(system)           the current raw evaluation rows, their target, the primary
                                  metric and the `[gate]` rules, for promotion and infra.4

model.4's staleness limit is computed only when asked (`staleness_limit=True`, `keel train
--staleness-limit`): it trains a model per older window of the data, which can take longer
than the training itself. Otherwise the lineage stores `staleness_limit_days: null`.
"""

from __future__ import annotations

import hashlib
import math
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.cache import digest
from keel.fingerprint import (
    data_fingerprint,
    model_code_hash,
    model_code_hashes,
)
from keel.git import head_commit
from keel.model.metrics import Predictions, metrics_for
from keel.model.slices import slice_metric, slices_of
from keel.registry.artefact import TrainedModel
from keel.registry.gate import GateInputs
from keel.registry.lineage import Lineage, metric_name
from keel.registry.ref import RegistryRef
from keel.registry.registration import Candidate, register, training_run
from keel.registry.versions import ModelVersion
from keel.system import System

__all__ = ["gate_inputs", "lineage", "registry_ref", "train_and_register"]

CHECKED_ROWS = 200  # evaluation rows the saved artefact must reproduce before it is registered


def registry_ref(system: System) -> RegistryRef:
    """The system's registry: `[registry] uri`, and `[registry] model` (default: its name)."""
    return system.registry


def gate_inputs(system: System) -> GateInputs:
    """The system's current raw evaluation rows (those the model can predict), their target,
    the primary metric and the `[gate]` rules: what promotion and infra.4 judge a version on."""
    frame = system.raw("eval")
    gate = system.config.gate
    return GateInputs(
        frame=frame,
        target=frame[system.target],
        primary=system.metric_name,
        floors=dict(gate.min),
        max_regression=dict(gate.max_regression),
    )


def train_and_register(system: System, *, staleness_limit: bool = False) -> ModelVersion:
    """Register the system's trained model (trained once and cached) as a new version.

    The version carries the pyfunc artefact, the lineage as tags (and `keel/lineage.json`),
    the parameters and seed as run parameters, and as run metrics every metric of the task
    on the evaluation data, the primary metric per configured slice, the training time and
    the peak memory (see `keel.registry.registration`). `staleness_limit` also runs model.4's
    sweep and stores the limit with the version.
    """
    ref = registry_ref(system)
    with training_run(ref, name=f"train {system.name}", config_file=system.config_file) as run:
        return register(run, candidate(system, staleness_limit=staleness_limit))


def candidate(system: System, *, staleness_limit: bool = False) -> Candidate:
    """Train (or reuse the cached model) and gather what is registered, as plain data."""
    trained = system.trained
    evaluation = system.dataset("eval")
    rows = evaluation.raw.iloc[:CHECKED_ROWS]
    metrics = overall_metrics(system, evaluation.target, trained.predictions)
    metrics |= slice_metrics(system, evaluation.raw, evaluation.target, trained.predictions)
    return Candidate(
        model=trained_model(system),
        lineage=lineage(system, staleness_limit=staleness_limit),
        metrics=metrics,
        rows=rows,
        expected=trained.predictions.take(np.arange(len(rows))),
        description=f"{system.name}: {system.metric_name} {trained.metric:.4f} on the "
        "evaluation data",
    )


def trained_model(system: System) -> TrainedModel:
    """The system's trained model and how raw rows reach it: the artefact's parts."""
    trained = system.trained
    classes = trained.predictions.classes if trained.predictions.proba is not None else None
    return TrainedModel(
        estimator=trained.estimator,
        system=system.name,
        task=system.task,
        inputs=[str(c) for c in system.dataset("train").inputs.columns],
        features=system.config.model.features,
        classes=None if classes is None else np.asarray(classes).tolist(),
        code_paths=code_paths(system),
    )


def code_paths(system: System) -> list[Path]:
    """The user's code the model needs: the top-level module or package of each entry point.

    Only code inside the system's folder travels with the model; an entry point in an
    installed package (such as `keel.trainers`) is a requirement instead.
    """
    specs = [system.config.model.train, system.config.model.features]
    paths: list[Path] = []
    for spec in specs:
        if spec is None:
            continue
        top = spec.split(":")[0].split(".")[0]
        for path in (system.root / f"{top}.py", system.root / top):
            if path.exists() and path not in paths:
                paths.append(path)
                break
    return paths


# -- the lineage ----------------------------------------------------------------------------


def lineage(
    system: System, *, packages: list[str] | None = None, staleness_limit: bool = False
) -> Lineage:
    """Where the system's trained model came from (see `keel.registry.lineage`).

    `packages` are the pinned requirements when known (the registry fills them in when it
    saves the artefact); `staleness_limit` runs model.4's sweep for the age limit.
    """
    from keel import __version__

    fingerprint = system.fingerprint()
    code_digest, code_names = model_code_hash(system)
    trained = system.trained
    model = system.config.model
    return {
        "system": system.name,
        "task": system.task,
        "primary_metric": system.metric_name,
        "git_commit": head_commit(system.root),
        "git_uncommitted": _uncommitted(system),
        "config_sha256": config_sha256(system),
        "code_hash": code_digest,
        "code_files": code_names,
        "code_hashes": model_code_hashes(system),
        "data": {
            "train": data_fingerprint(system, "train", fingerprint["train"]),
            "eval": data_fingerprint(system, "eval", fingerprint["eval"]),
        },
        "train_entry": model.train,
        "features_entry": model.features,
        "params": dict(model.params),
        "seed": model.seed,
        "train_seconds": round(float(trained.train_seconds), 4),
        "peak_memory_mb": peak_memory_mb(),
        "staleness_limit_days": _staleness_limit(system) if staleness_limit else None,
        "keel_version": __version__,
        "python": platform.python_version(),
        "requirements": list(packages or []),
        "environment": {},  # the requirements' closure: filled in with them at registration
    }


def config_sha256(system: System) -> str:
    """The SHA-256 of keel.toml as written (of the validated configuration without a file)."""
    if system.config_file is not None and system.config_file.is_file():
        return hashlib.sha256(system.config_file.read_bytes()).hexdigest()
    return digest(system.config.model_dump(mode="json"))


def peak_memory_mb() -> float | None:
    """Peak resident memory of this process so far, in MiB (None where the OS cannot say).

    `getrusage`'s high-water mark of the whole registering process: it bounds the memory
    training took from above when this process trained the model, and costs nothing, where
    measuring a fit alone (tracemalloc) would mean training again. When the trained model came
    from Keel's cache it is the memory of loading it instead.
    """
    try:
        import resource
    except ImportError:  # Windows has no getrusage
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(peak / scale, 1)


def _uncommitted(system: System) -> list[str] | None:
    """The model's code and keel.toml that git does not hold as committed now (model.1)."""
    from keel.checks._code import uncommitted

    return uncommitted(system)


def _staleness_limit(system: System) -> float | None:
    """model.4's age limit (days), stored with the version for monitor.4; None if unknown."""
    from keel.checks._measure_model import staleness_limit
    from keel.errors import KeelError

    try:
        return staleness_limit(system)
    except KeelError:
        return None


# -- the metrics ----------------------------------------------------------------------------


def overall_metrics(system: System, target: Any, predictions: Predictions) -> dict[str, float]:
    """Every metric of the system's task that is defined on these predictions."""
    y = np.asarray(target)
    found = {}
    for name in metrics_for(system.task):  # type: ignore[arg-type]
        value, _ = slice_metric(name, y, predictions)
        if not math.isnan(value):
            found[name] = value
    return found


def slice_metrics(
    system: System, raw: pd.DataFrame, target: Any, predictions: Predictions
) -> dict[str, float]:
    """The primary metric on every slice of the configured `[slices] columns`.

    Named `slice.<column>.<value>.<metric>` (MLflow refuses `=` in metric names); slices where
    the metric is undefined (a single class, no rows) are left out.
    """
    y = np.asarray(target)
    metric = system.metric_name
    found: dict[str, float] = {}
    for column in system.config.slices.columns:
        if column not in raw.columns:
            continue
        for piece in slices_of(raw[column], bins=system.config.slices.bins, source="configured"):
            value, _ = slice_metric(metric, y[piece.rows], predictions.take(piece.rows))
            if math.isnan(value):
                continue
            name = metric_name("slice", column, piece.value, metric)
            while name in found:  # two values that read the same once made safe
                name += "_"
            found[name] = value
    return found
