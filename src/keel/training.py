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
from keel.config import registry_ref as config_registry_ref
from keel.data.sources import describe
from keel.dependencies import user_module_files
from keel.git import head_commit
from keel.model.metrics import Predictions, metrics_for
from keel.model.slices import slice_metric, slices_of
from keel.registry.artefact import TrainedModel
from keel.registry.gate import GateInputs
from keel.registry.lineage import DataFacts, Lineage, metric_name
from keel.registry.ref import RegistryRef
from keel.registry.registration import Candidate, register, training_run
from keel.registry.versions import ModelVersion
from keel.system import System

__all__ = ["gate_inputs", "lineage", "registry_ref", "train_and_register"]

CHECKED_ROWS = 200  # evaluation rows the saved artefact must reproduce before it is registered


def registry_ref(system: System) -> RegistryRef:
    """The system's registry: `[registry] uri`, and `[registry] model` (default: its name)."""
    return config_registry_ref(system.config, system.root)


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


def schema_hash(frame: pd.DataFrame) -> str:
    """A hash of a frame's column names and types, in order."""
    columns = [(str(c), str(t)) for c, t in frame.dtypes.items()]
    return hashlib.sha256(repr(columns).encode()).hexdigest()


def newest_time(frame: pd.DataFrame, column: str | None) -> str | None:
    """The newest value of the timestamp column (ISO 8601, UTC when the column has no zone),
    or None without a timestamp column or values."""
    if not column or column not in frame.columns:
        return None
    stamps = pd.to_datetime(frame[column], errors="coerce", utc=True, format="mixed")
    newest = stamps.max()
    return None if pd.isna(newest) else newest.isoformat()


def data_fingerprint(system: System, split: str, content_hash: str) -> DataFacts:
    """Source, rows, schema hash, content hash and newest timestamp of one split of the
    system's raw data, every row as read (monitor.1 reads the same facts again to compare)."""
    data = system.config.data
    frame = system.raw(split, all_rows=True)  # type: ignore[arg-type]
    if split == "eval" and data.eval is None:
        how = "newest rows by timestamp" if system.config.system.timestamp else "seeded random"
        source = f"{describe(data.train)} (held out: {data.eval_fraction:.0%}, {how})"
    else:
        source = describe(data.train if split == "train" else data.eval)  # type: ignore[arg-type]
    return {
        "source": source,
        "rows": len(frame),
        "columns": len(frame.columns),
        "schema_hash": schema_hash(frame),
        "content_hash": content_hash,
        "newest": newest_time(frame, system.config.system.timestamp),
    }


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


def _shown_path(path: Path, root: Path) -> str:
    """A code file's name that does not depend on the machine: relative to the system's
    folder, or to the `sys.path` entry it is imported from (`keel/trainers.py`)."""
    if path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    bases = [Path(p).resolve() for p in sys.path if p]
    containing = [b for b in bases if path.is_relative_to(b)]
    if containing:
        return path.relative_to(max(containing, key=lambda b: len(b.parts))).as_posix()
    return path.name


def model_code_hash(system: System) -> tuple[str, list[str]]:
    """The SHA-256 of what defines the model, and the code files it covers.

    Every source file of the code that builds the model (the training and feature entry
    points wherever they live, Keel's ready-made trainers included, the user's modules they
    import), named independently of the machine, and keel.toml's [model] section (entry
    points, parameters, seed): the same code and specification give the same hash anywhere.
    """
    root = system.root.resolve()
    model = system.config.model
    h = hashlib.sha256()
    names = []
    for path in system.code_files():
        name = _shown_path(path.resolve(), root)
        names.append(name)
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes())
    spec = {"train": model.train, "features": model.features, "params": model.params}
    h.update(digest(spec, model.seed).encode())
    return h.hexdigest(), names


def model_code_hashes(system: System) -> dict[str, str]:
    """The SHA-256 of each file of the code the model's predictions depend on: the training
    and feature entry points' modules and the user's modules they import (not the other
    scripts in the system's folder), by machine-independent name. monitor.1 compares these,
    so a commit that touches only keel.toml, a README or a helper script is not a change."""
    system.train_function  # noqa: B018 (import the entry points first)
    system.features_function  # noqa: B018
    model = system.config.model
    entries = [spec.split(":")[0] for spec in (model.train, model.features) if spec]
    root = system.root.resolve()
    return {
        _shown_path(path.resolve(), root): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in user_module_files(system.root, entries)
        if path.is_file()
    }


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
