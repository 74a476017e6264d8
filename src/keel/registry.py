"""Model versions on MLflow: the connection to the registry, and registering, listing and
loading versions (the gate, promotion and rollback are in `keel.history`).

`train_and_register` stores the system's trained model as an MLflow pyfunc model that carries
the user's feature and training code (see `keel.lineage`), so the one artefact turns raw rows
into predictions, and registers it as a new version of the model `[registry] model` (default:
the system's name) with its lineage, parameters and metrics.

Where things live, for a model NAME in the tracking store `[registry] uri`:

    experiment keel/NAME           one run per registered version: params, metrics, the model
    experiment keel/NAME/audit     one run per promotion, refused promotion or rollback
    experiment keel/SYSTEM/scores  one run per `keel score`
    registered model NAME          its versions; the alias `champion` marks the serving one

The default `sqlite:///.keel/mlflow.db` is relative to the system's folder, and artefacts go
to `mlartifacts/` beside the database: no server to start. An http(s) URI names a team's
MLflow server, which keeps the artefacts where it is configured to. SQLite connections wait
up to 30 s for another writer (`?timeout=30`) instead of failing at once, and changes of the
champion take a file lock (`<database>.lock`; `.keel/registry.lock` for other stores).

Everything a user can get wrong (an unreachable registry, an unknown version, a corrupt
artefact) raises `RegistryError` before the registry changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from keel.errors import KeelError, RegistryError
from keel.lineage import (
    as_predictions,
    lineage,
    lineage_tags,
    overall_metrics,
    predict_raw,
    quiet,
    save_model,
    slice_metrics,
)
from keel.system import System

with quiet():
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

__all__ = [
    "CHAMPION",
    "ModelVersion",
    "RegistryError",
    "champion",
    "get_version",
    "list_versions",
    "load_model",
    "model_uri",
    "predict_raw",
    "tracking_uri",
    "train_and_register",
]

CHAMPION = "champion"
LOCK_TIMEOUT_S = 600.0
SQLITE_TIMEOUT_S = 30
_PLUMBING = {"sqlalchemy", "alembic", "requests", "urllib3", "sqlite3"}
_OPENED: set[str] = set()  # SQLite stores this process has opened (and so migrated)
_RECOVERED: set[tuple[str, str]] = set()  # (store, model) cleaned after dead trainings


# -- the connection ------------------------------------------------------------------------


def tracking_uri(uri: str, root: Path) -> str:
    """`[registry] uri` as MLflow gets it: a relative SQLite path resolved against `root`, and
    a busy timeout so concurrent writers wait for each other instead of failing."""
    if not uri.startswith("sqlite:///"):
        return uri
    path, _, query = uri.removeprefix("sqlite:///").partition("?")
    if path and path != ":memory:" and not path.startswith("/"):
        path = str((root / path).resolve())
    if "timeout=" not in query:
        query = "&".join(q for q in (query, f"timeout={SQLITE_TIMEOUT_S}") if q)
    return f"sqlite:///{path}?{query}"


def sqlite_file(uri: str) -> Path | None:
    path = uri.removeprefix("sqlite:///").partition("?")[0]
    if not uri.startswith("sqlite:///") or path in ("", ":memory:"):
        return None
    return Path(path)


@dataclass
class Store:
    """An open registry: the MLflow client, the model's name and the lock of its store."""

    client: Any
    uri: str  # as configured, for messages
    tracking: str  # as MLflow gets it (see `tracking_uri`)
    model: str
    lock_file: Path
    artifacts: Path | None  # where a local store keeps artefacts
    downloads: Path  # where artefacts of a remote store are fetched to

    def experiment(self, name: str, *, create: bool = True) -> str | None:
        """The id of an experiment, created (with artefacts beside a local store) if missing."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return found.experiment_id
        if not create:
            return None
        location = None
        if self.artifacts is not None:
            location = (self.artifacts / name.replace("/", "_")).as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another process was first
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the registry lock: one change of the champion (or registration) at a time."""
        return _file_lock(self.lock_file)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path`, waited for up to `LOCK_TIMEOUT_S`."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; MLflow's alias semantics still hold
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(
                        f"the registry lock {path} has been held for over {LOCK_TIMEOUT_S:.0f} s "
                        "by another Keel process; try again later"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def translated(uri: str) -> Iterator[None]:
    """MLflow's quiet; its failures (server, database, files) become `RegistryError`."""
    try:
        with quiet():
            yield
    except KeelError:
        raise
    except Exception as exc:
        plumbing = type(exc).__module__.split(".")[0] in _PLUMBING
        if not (isinstance(exc, MlflowException | OSError) or plumbing):
            raise
        text = exc.message if isinstance(exc, MlflowException) else str(exc)
        raise RegistryError(
            f'the model registry at "{uri}" ([registry] uri) failed: {type(exc).__name__}: '
            f"{text.splitlines()[0] if text else ''}"
        ) from None


def _probe(uri: str) -> None:
    """Fail fast when a tracking server does not answer (MLflow retries for minutes)."""
    parsed = urlparse(uri)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "localhost", port), timeout=5).close()
    except OSError as exc:
        raise RegistryError(
            f'cannot reach the MLflow server at "{uri}" ([registry] uri in keel.toml): {exc}. '
            "Start the server, or remove [registry] uri to use the embedded SQLite registry."
        ) from None


def connect(system: System) -> Store:
    """Open the system's registry; `RegistryError` when it cannot be reached or created."""
    configured = system.config.registry.uri
    uri = tracking_uri(configured, system.root)
    db = sqlite_file(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
            if db.exists() and not db.is_file():
                raise IsADirectoryError(f"{db} is not a file")
            if not os.access(db.parent, os.W_OK):
                raise PermissionError(f"{db.parent} is not writable")
        except OSError as exc:
            raise RegistryError(
                f'[registry] uri = "{configured}": cannot keep the registry database at {db}: {exc}'
            ) from None
        lock, artifacts = db.with_name(db.name + ".lock"), db.parent / "mlartifacts"
    else:
        if urlparse(uri).scheme in ("http", "https"):
            _probe(uri)
        lock, artifacts = system.keel_dir / "registry.lock", None
    # MLflow creates (or migrates) the database on first use in a process: one process at a
    # time, so none sees another's half-made tables.
    first = db is not None and uri not in _OPENED
    with _file_lock(lock) if first else contextlib.nullcontext(), translated(configured):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
    _OPENED.add(uri)
    name = system.config.registry.model or system.name
    store = Store(client, configured, uri, name, lock, artifacts, system.keel_dir / "models")
    if (uri, name) not in _RECOVERED:
        with translated(configured):
            recover(store)
        _RECOVERED.add((uri, name))
    return store


# -- versions -----------------------------------------------------------------------------


@dataclass
class ModelVersion:
    """One registered version: where it came from, how it scored, and what it serves as."""

    name: str
    version: int
    run_id: str
    lineage: dict[str, Any]
    metrics: dict[str, float]
    created_at: str
    aliases: list[str]
    source: str  # the artefact's URI: `mlflow.pyfunc.load_model(source)` loads it
    verdict: dict[str, Any] | None = None  # the latest gate verdict recorded on it
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The version as JSON-ready plain data."""
        return asdict(self)


def _iso(millis: int | None) -> str:
    if not millis:
        return ""
    return dt.datetime.fromtimestamp(millis / 1000, dt.UTC).isoformat(timespec="seconds")


def now() -> str:
    """The time now, in UTC, as ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def user(who: str | None) -> str:
    """Who acts: as given, else the login name."""
    if who:
        return who
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return os.environ.get("USER") or "unknown"


def _describe(store: Store, mv: Any, named: dict[str, int] | None = None) -> ModelVersion:
    """A version as plain data; `named` is the model's alias map when already read."""
    named = aliases(store) if named is None else named
    try:
        metrics = dict(store.client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
    except MlflowException:
        metrics = {}
    tags = dict(mv.tags or {})
    return ModelVersion(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or "",
        lineage=json.loads(tags.pop("keel.lineage", "{}")),
        metrics=metrics,
        created_at=_iso(mv.creation_timestamp),
        aliases=sorted(a for a, number in named.items() if number == int(mv.version)),
        source=mv.source,
        verdict=json.loads(tags["keel.gate.verdict"]) if "keel.gate.verdict" in tags else None,
        tags=tags,
    )


def _registered(store: Store) -> Any | None:
    """The registered model, or None before its first version."""
    try:
        return store.client.get_registered_model(store.model)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def aliases(store: Store) -> dict[str, int]:
    """The model's aliases and the versions they name (`champion` among them)."""
    model = _registered(store)
    return {} if model is None else {a: int(v) for a, v in (model.aliases or {}).items()}


def _quoted(text: str) -> str:
    return f'"{text}"' if "'" in text else f"'{text}'"


def _all_versions(store: Store) -> list[Any]:
    found, token = [], None
    while True:
        page = store.client.search_model_versions(
            f"name = {_quoted(store.model)}", max_results=1000, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def find_version(store: Store, version: int | str) -> Any:
    """The MLflow model version a user named: a number (`3`, `v3`) or an alias (`champion`)."""
    text = str(version).strip()
    if text[:1] in "vV" and text[1:].isdigit():
        text = text[1:]
    if not text.isdigit():
        number = aliases(store).get(text)
        if number is None:
            raise RegistryError(
                f"model '{store.model}' has no version or alias '{version}'; "
                "see `keel registry list`"
            )
        text = str(number)
    try:
        return store.client.get_model_version(store.model, text)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    known = [int(mv.version) for mv in _all_versions(store)]
    has = f"its versions are {', '.join(map(str, sorted(known)))}" if known else "it has none"
    raise RegistryError(
        f"model '{store.model}' has no version {text}; {has} (`keel registry list`; "
        "`keel train` registers a new one)"
    )


def list_versions(system: System) -> list[ModelVersion]:
    """Every registered version of the system's model, newest first."""
    store = connect(system)
    with translated(store.uri):
        named = aliases(store)
        return [_describe(store, mv, named) for mv in _all_versions(store)]


def get_version(system: System, version: int | str) -> ModelVersion:
    """One version, by number or alias; `RegistryError` when there is no such version."""
    store = connect(system)
    with translated(store.uri):
        return _describe(store, find_version(store, version))


def champion(system: System) -> ModelVersion | None:
    """The serving version (alias `champion`), or None before the first promotion."""
    store = connect(system)
    with translated(store.uri):
        number = aliases(store).get(CHAMPION)
        if number is None:
            return None
        return _describe(store, store.client.get_model_version(store.model, str(number)))


def load_version(store: Store, mv: Any) -> Any:
    """A version's pyfunc model; `RegistryError` when its artefact is missing or corrupt.

    A local artefact is loaded where it is; a remote one is downloaded once to
    `.keel/models/` (versions never change).
    """
    parsed = urlparse(mv.source)
    try:
        with quiet():
            if parsed.scheme in ("file", ""):
                path = Path(unquote(parsed.path))
            else:
                path = _download(store, mv)
            return mlflow.pyfunc.load_model(str(path), suppress_warnings=True)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise RegistryError(
            f"version {mv.version} of '{store.model}' cannot be loaded from {mv.source}: "
            f"{type(exc).__name__}: {first}. The artefact is missing or corrupt; register a "
            "new version with `keel train`"
        ) from None


def _download(store: Store, mv: Any) -> Path:
    folder = store.downloads / f"{store.model}-v{mv.version}"
    done = folder / ".downloaded"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=mv.source,
            dst_path=str(folder),
            tracking_uri=store.tracking,
            registry_uri=store.tracking,
        )
        done.write_text(local, encoding="utf-8")
    return Path(done.read_text(encoding="utf-8"))


def load_model(system: System, version: int | str = CHAMPION) -> Any:
    """The pyfunc model of a version (number or alias): raw rows in, predictions out."""
    store = connect(system)
    with translated(store.uri):
        return load_version(store, find_version(store, version))


def model_uri(system: System, version: int | str = CHAMPION) -> str:
    """The URI of a version's artefact, for `mlflow.pyfunc.load_model` in any process."""
    return get_version(system, version).source


def measure_version(system: System, version: int | str, names: list[str]) -> dict[str, float]:
    """Metrics of a registered version's artefact, predicting the system's current raw
    evaluation rows as it would serve them (NaN where a metric is undefined)."""
    from keel.model.slices import slice_metric

    store = connect(system)
    with translated(store.uri):
        mv = find_version(store, version)
        model = load_version(store, mv)
    raw = system.raw("eval")
    try:
        predictions = as_predictions(model, predict_raw(model, raw))
    except Exception as exc:
        raise RegistryError(
            f"version {mv.version} of '{store.model}' cannot predict the evaluation rows: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    y = np.asarray(raw[system.target])
    return {name: slice_metric(name, y, predictions)[0] for name in names}


# -- registering ---------------------------------------------------------------------------


def _check_artefact(system: System, model_dir: Path) -> None:
    """Refuse an artefact that does not reproduce the trained model on evaluation rows."""
    raw = system.dataset("eval").raw.iloc[:200]
    saved_path = list(sys.path)
    try:
        with quiet():
            model = mlflow.pyfunc.load_model(str(model_dir), suppress_warnings=True)
            got = as_predictions(model, predict_raw(model, raw))
    except Exception as exc:
        raise RegistryError(
            f"the saved model cannot predict evaluation rows: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        sys.path[:] = saved_path  # MLflow put the temporary copy of the code first
        _forget_modules_under(model_dir.parent)  # saving and loading imported from there
    want = system.trained.predictions.take(np.arange(len(raw)))
    same = np.array_equal(got.labels, want.labels) and (
        want.proba is None or np.allclose(got.proba, want.proba, rtol=0, atol=1e-9)
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


def train_and_register(system: System) -> ModelVersion:
    """Register the system's trained model (trained once and cached) as a new version.

    The version carries the pyfunc artefact, the lineage as tags (and `keel/lineage.json`),
    the parameters and seed as run parameters, and as run metrics every metric of the task
    on the evaluation data, the primary metric per configured slice, the training time and
    the peak memory.

    The run is opened before training, tagged with this process's id and host, with keel.toml
    logged: an interruption (Ctrl-C) or a failure ends it as KILLED or FAILED and removes its
    artefacts and temporary folder; a process killed outright is found by the next registry
    operation (see `recover`).
    """
    store = connect(system)  # an unreachable registry fails before training
    with translated(store.uri):
        client = store.client
        experiment = store.experiment(f"keel/{store.model}")
        run = client.create_run(
            experiment, run_name=f"train {system.name}", tags={**_owner(), "keel.kind": "train"}
        )
    run_id = run.info.run_id
    try:
        with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
            if system.config_file is not None and system.config_file.is_file():
                with translated(store.uri):
                    client.log_artifact(run_id, str(system.config_file), "keel")
            mv = _train_into(system, store, run, Path(tmp))
    except BaseException as exc:
        _abandon(store, run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    with translated(store.uri):
        client.set_terminated(run_id)
        return _describe(store, client.get_model_version(store.model, mv.version))


def _train_into(system: System, store: Store, run: Any, folder: Path) -> Any:
    """Train (or reuse the cached model), save, check and log it into `run`; register it."""
    trained = system.trained
    evaluation = system.dataset("eval")
    model_dir, pinned = save_model(system, folder)
    _check_artefact(system, model_dir)
    record = lineage(system, packages=pinned)
    metrics = overall_metrics(system, evaluation.target, trained.predictions)
    metrics |= slice_metrics(system, evaluation.raw, evaluation.target, trained.predictions)
    metrics["train_seconds"] = record["train_seconds"]
    if record["peak_memory_mb"] is not None:
        metrics["peak_memory_mb"] = record["peak_memory_mb"]
    params = {str(k): str(v)[:500] for k, v in record["params"].items()}
    params["seed"] = str(record["seed"])
    tags = lineage_tags(record)
    run_id = run.info.run_id
    with translated(store.uri):
        client = store.client
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        _log(client, run_id, params, metrics)
        client.log_artifacts(run_id, str(model_dir), "model")
        client.log_dict(run_id, record, "keel/lineage.json")
        with store.locked():
            if _registered(store) is None:
                client.create_registered_model(store.model)
            return client.create_model_version(
                store.model,
                source=f"{run.info.artifact_uri}/model",
                run_id=run_id,
                tags={**tags, "keel.lineage": json.dumps(record, sort_keys=True)},
                description=f"{system.name}: {system.metric_name} "
                f"{trained.metric:.4f} on the evaluation data",
            )


# -- interrupted trainings -----------------------------------------------------------------

TEMP_PREFIX = "keel-model-"  # temporary folders of `keel train`: keel-model-<pid>-<random>


def _owner() -> dict[str, str]:
    """Tags naming the process that runs a training: its id, host and start."""
    return {"keel.pid": str(os.getpid()), "keel.host": socket.gethostname(), "keel.started": now()}


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:
        return False
    return True


def _has_version(store: Store, run_id: str) -> bool:
    found = store.client.search_model_versions(f"run_id = '{run_id}'", max_results=1)
    return len(found) > 0


def _remove_artifacts(store: Store, run_id: str) -> bool:
    """Delete a run's artefact folder from a local store (never a registered version's)."""
    if store.artifacts is None or _has_version(store, run_id):
        return False
    uri = store.client.get_run(run_id).info.artifact_uri or ""
    parsed = urlparse(uri)
    if parsed.scheme not in ("file", ""):
        return False
    folder = Path(unquote(parsed.path)).parent  # …/<run id>/artifacts → …/<run id>
    if folder.name != run_id or not folder.resolve().is_relative_to(store.artifacts.resolve()):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def _abandon(store: Store, run_id: str, status: str, note: str = "") -> None:
    """End a training run that did not register a version, and remove its artefacts."""
    try:
        with translated(store.uri):
            if note:
                store.client.set_tag(run_id, "keel.abandoned", note)
            _remove_artifacts(store, run_id)
            store.client.set_terminated(run_id, status)
    except Exception:  # cleaning up must not hide why the training ended
        pass


def recover(store: Store) -> list[str]:
    """Clean up after trainings whose process died (kill -9, a crash, a lost machine).

    Runs of this host still RUNNING whose process (tag `keel.pid`) no longer exists are
    ended as FAILED with a `keel.abandoned` note, and their artefact folders removed; so are
    temporary folders of `keel train` left by dead processes. Returns what was cleaned.
    """
    cleaned = []
    host = socket.gethostname()
    found = store.client.get_experiment_by_name(f"keel/{store.model}")
    if found is not None:
        runs = store.client.search_runs(
            [found.experiment_id], "attributes.status = 'RUNNING'", max_results=1000
        )
        for run in runs:
            tags = run.data.tags
            pid = tags.get("keel.pid", "")
            if tags.get("keel.host") != host or not pid.isdigit() or _alive(int(pid)):
                continue
            note = f"process {pid} on {host} ended without finishing; found at {now()}"
            _abandon(store, run.info.run_id, "FAILED", note)
            cleaned.append(f"run {run.info.run_id}: {note}")
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = folder.name.removeprefix(TEMP_PREFIX).split("-")[0]
        if folder.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            cleaned.append(f"temporary folder {folder}")
    return cleaned
