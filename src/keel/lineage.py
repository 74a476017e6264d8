"""What a registered model version is made of: the model artefact, and its lineage.

The artefact is an MLflow pyfunc model (`KeelModel`, saved as MLflow "models from code"): the
pickled estimator, the user's feature and training code (`code_paths`), and a small
`keel.json` with the task, the model inputs, the feature entry point and the SHA-256 of the
pickle. Loaded anywhere Keel is installed, it turns raw rows into predictions: the feature
function, then `predict` (and `predict_proba` for classifiers). A pickle that does not match
its recorded hash is refused as corrupt.

The lineage of a trained model is everything needed to say what produced it and to notice
when any of it changes (model.1, monitor.1, monitor.6): the git commit of the system's code,
the SHA-256 of keel.toml, a fingerprint of the training and evaluation data (source, row
count, a hash of the schema, a hash of the content), the model parameters and seed, the time
training took, the peak memory of the process, and the versions of the packages the pickled
model needs. Metrics are kept apart from the lineage: the overall metrics of the task and the
primary metric of every configured slice.

Nothing here talks to a tracking server: `keel.registry` stores the artefact, and these dicts
as run parameters, metrics, tags and a JSON artefact.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import io
import json
import logging
import math
import os
import pickle
import platform
import re
import sys
import warnings
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.cache import digest
from keel.data.sources import describe
from keel.model.metrics import Predictions, metrics_for
from keel.model.slices import slice_metric, slices_of
from keel.system import System

# Keel opts no one into MLflow's usage telemetry (sent from a thread at import): set
# MLFLOW_DISABLE_TELEMETRY=false to allow it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # MLflow warns about its own type hints while importing
    import mlflow.pyfunc

_NAME_UNSAFE = re.compile(r"[^\w.\- ]")
ESTIMATOR = "estimator.pkl"
META = "keel.json"
# The model's code, copied into every model: MLflow runs it on loading ("models from code"),
# so no pickled Python object of Keel's own is needed.
MODEL_ENTRY = """\
# A Keel model (https://mlflow.org/docs/latest/ml/model/models-from-code/).
import mlflow.models

from keel.lineage import KeelModel

mlflow.models.set_model(KeelModel())
"""


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow without its warnings and INFO logs (database migrations, environment checks)."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def config_sha256(system: System) -> str:
    """The SHA-256 of keel.toml as written (of the validated configuration without a file)."""
    if system.config_file is not None and system.config_file.is_file():
        return hashlib.sha256(system.config_file.read_bytes()).hexdigest()
    return digest(system.config.model_dump(mode="json"))


def schema_hash(frame: pd.DataFrame) -> str:
    """A hash of a frame's column names and types, in order."""
    columns = [(str(c), str(t)) for c, t in frame.dtypes.items()]
    return hashlib.sha256(repr(columns).encode()).hexdigest()


def data_fingerprint(system: System, split: str, content_hash: str) -> dict[str, Any]:
    """Source, rows, schema hash and content hash of one split of the system's raw data."""
    data = system.config.data
    frame = system.raw(split)  # type: ignore[arg-type]
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
    }


def peak_memory_mb() -> float | None:
    """Peak resident memory of this process so far, in MiB (None where the OS cannot say).

    `getrusage`'s high-water mark of the whole registering process: it bounds the memory
    training took from above when this process trained the model, and costs nothing, where
    measuring a fit alone (tracemalloc) would mean training again. When the trained model came
    from Keel's cache it is the memory of loading and registering it instead.
    """
    try:
        import resource
    except ImportError:  # Windows has no getrusage
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(peak / scale, 1)


def pickle_estimator(estimator: Any) -> tuple[bytes, set[str]]:
    """The estimator pickled (with cloudpickle), and the modules its pickle refers to."""
    import cloudpickle

    modules: set[str] = set()

    class _Recorder(cloudpickle.CloudPickler):
        def persistent_id(self, obj: Any) -> None:
            modules.add(getattr(type(obj), "__module__", None) or "")
            if isinstance(obj, type) or callable(obj):
                modules.add(getattr(obj, "__module__", None) or "")
            return None

    buffer = io.BytesIO()
    _Recorder(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(estimator)
    return buffer.getvalue(), {m for m in modules if m}


def requirements(modules: Collection[str], *, exclude: Collection[str] = ()) -> list[str]:
    """Pinned pip requirements for code that uses `modules`: each one's installed distribution.

    Keel, pandas, NumPy and cloudpickle are always included (loading and predicting need
    them); modules in `exclude` (the user's own code, shipped with the model) and the standard
    library are left out.
    """
    tops = {m.split(".")[0] for m in modules} | {"keel", "numpy", "pandas", "cloudpickle"}
    tops -= set(sys.stdlib_module_names) | {"builtins", "__main__"} | set(exclude)
    dists = importlib.metadata.packages_distributions()
    pinned = set()
    for top in tops:
        for dist in dists.get(top, [top]):
            try:
                pinned.add(f"{dist}=={importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                continue
    return sorted(pinned, key=str.lower)


def lineage(system: System, *, packages: list[str] | None = None) -> dict[str, Any]:
    """Where the system's trained model came from, as JSON-ready plain data."""
    from keel import __version__
    from keel.checks._git import head_commit  # here: importing keel.checks loads every check

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
        "staleness_limit_days": _staleness_limit(system),
        "keel_version": __version__,
        "python": platform.python_version(),
        "requirements": list(packages or []),
    }


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


def _staleness_limit(system: System) -> float | None:
    """model.4's age limit (days), stored with the version for monitor.4; None if unknown."""
    from keel.checks._measure_model import staleness_limit
    from keel.errors import KeelError

    try:
        return staleness_limit(system)
    except KeelError:
        return None


def lineage_tags(record: dict[str, Any]) -> dict[str, str]:
    """The lineage as flat `keel.*` tags: one value per tag, searchable in MLflow."""
    tags = {
        "keel.system": record["system"],
        "keel.task": record["task"],
        "keel.primary_metric": record["primary_metric"],
        "keel.git_commit": record["git_commit"] or "none (not a git repository)",
        "keel.config_sha256": record["config_sha256"],
        "keel.code_hash": record["code_hash"],
        "keel.seed": str(record["seed"]),
        "keel.train_seconds": f"{record['train_seconds']:g}",
        "keel.peak_memory_mb": str(record["peak_memory_mb"]),
        "keel.staleness_limit_days": str(record.get("staleness_limit_days")),
        "keel.keel_version": record["keel_version"],
    }
    for split, facts in record["data"].items():
        for key, value in facts.items():
            tags[f"keel.data.{split}.{key}"] = str(value)
    return tags


def metric_name(*parts: str) -> str:
    """An MLflow metric name from parts: characters MLflow refuses become underscores."""
    return ".".join(_NAME_UNSAFE.sub("_", p) for p in parts)


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
        for candidate in (system.root / f"{top}.py", system.root / top):
            if candidate.exists() and candidate not in paths:
                paths.append(candidate)
                break
    return paths


# -- the model artefact --------------------------------------------------------------------


class KeelModel(mlflow.pyfunc.PythonModel):
    """A Keel system's model as an MLflow pyfunc model: raw rows in, predictions out.

    `predict` returns a frame with `prediction` and, for classifiers, one `proba_<class>`
    column per class, in the estimator's class order.
    """

    def load_context(self, context: Any) -> None:
        meta = json.loads(Path(context.artifacts["keel"]).read_text(encoding="utf-8"))
        payload = Path(context.artifacts["estimator"]).read_bytes()
        if hashlib.sha256(payload).hexdigest() != meta["estimator_sha256"]:
            raise ValueError(
                f"{ESTIMATOR} does not match the SHA-256 recorded when the model was saved: "
                "the artefact is corrupt or was changed"
            )
        self.estimator = pickle.loads(payload)
        self.task: str = meta["task"]
        self.inputs: list[str] = meta["inputs"]
        self.classes: list[Any] | None = meta["classes"]
        self.build = None
        if meta["features"]:
            module, name = meta["features"].split(":")
            self.build = getattr(importlib.import_module(module), name)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        raw = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        inputs = raw if self.build is None else self.build(raw.copy())
        missing = [c for c in self.inputs if c not in inputs.columns]
        if missing:
            where = "the rows" if self.build is None else "the feature function's output"
            raise ValueError(f"{where} lack the model inputs {', '.join(map(str, missing))}")
        inputs = inputs[self.inputs]
        out = pd.DataFrame({"prediction": np.asarray(self.estimator.predict(inputs))})
        if self.classes is not None:
            proba = np.asarray(self.estimator.predict_proba(inputs), dtype=float)
            for i, label in enumerate(self.classes):
                out[f"proba_{label}"] = proba[:, i]
        return out.set_axis(raw.index)


def save_model(system: System, folder: Path) -> tuple[Path, list[str]]:
    """Save the system's trained model as a pyfunc model in `folder/model`; return it and
    the pinned pip requirements (given to MLflow, which would otherwise spend seconds
    inferring them)."""
    trained = system.trained
    payload, modules = pickle_estimator(trained.estimator)
    paths = code_paths(system)
    pinned = requirements(modules, exclude={p.stem for p in paths})
    classes = trained.predictions.classes if trained.predictions.proba is not None else None
    meta = {
        "system": system.name,
        "task": system.task,
        "inputs": [str(c) for c in system.dataset("train").inputs.columns],
        "features": system.config.model.features,
        "classes": None if classes is None else np.asarray(classes).tolist(),
        "estimator_sha256": hashlib.sha256(payload).hexdigest(),
    }
    src = folder / "src"
    src.mkdir(parents=True)
    (src / ESTIMATOR).write_bytes(payload)
    (src / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    (src / "keel_model.py").write_text(MODEL_ENTRY, encoding="utf-8")
    with quiet():
        mlflow.pyfunc.save_model(
            str(folder / "model"),
            python_model=str(src / "keel_model.py"),
            artifacts={"estimator": str(src / ESTIMATOR), "keel": str(src / META)},
            code_paths=[str(p) for p in paths] or None,
            pip_requirements=pinned,
        )
    return folder / "model", pinned


def predict_raw(model: Any, raw: pd.DataFrame) -> pd.DataFrame:
    """A loaded Keel pyfunc model's predictions for raw rows (as served)."""
    with quiet():
        return model.predict(raw)


def as_predictions(model: Any, output: pd.DataFrame) -> Predictions:
    """A Keel model's output frame as `Predictions`, for Keel's metrics."""
    labels = output["prediction"].to_numpy()
    classes = model.unwrap_python_model().classes
    if classes is None:
        return Predictions(labels)
    proba = output[[f"proba_{c}" for c in classes]].to_numpy(dtype=float)
    return Predictions(labels, proba, np.asarray(classes))
