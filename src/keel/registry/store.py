"""The connection to a model registry: MLflow's tracking store, opened from a `RegistryRef`.

The default `sqlite:///.keel/mlflow.db` is relative to the system's folder, and artefacts go
to `mlartifacts/` beside the database: no server to start. An http(s) URI names a team's
MLflow server, which keeps the artefacts where it is configured to. SQLite connections wait
up to 30 s for another writer (`?timeout=30`) instead of failing at once, and changes of the
champion take a file lock (`<database>.lock`; `<state>/registry.lock` for other stores).

`connect` fails with `RegistryError` when the store cannot be reached or created, and the
first time a process opens a model's store it cleans up after trainings whose process died
(see `keel.registry.recovery`). `translated` turns MLflow's failures into `RegistryError`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from keel.errors import KeelError, RegistryError
from keel.registry._mlflow import quiet
from keel.registry.recovery import recover
from keel.registry.ref import RegistryRef, sqlite_file, tracking_uri

with quiet():
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

__all__ = ["Store", "connect", "sqlite_file", "tracking_uri", "translated"]

LOCK_TIMEOUT_S = 600.0
_PLUMBING = {"sqlalchemy", "alembic", "requests", "urllib3", "sqlite3"}
_OPENED: set[str] = set()  # SQLite stores this process has opened (and so migrated)
_RECOVERED: set[tuple[str, str]] = set()  # (store, model) cleaned after dead trainings


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


def connect(ref: RegistryRef) -> Store:
    """Open a registry; `RegistryError` when it cannot be reached or created."""
    configured = ref.uri
    uri = tracking_uri(configured, ref.root)
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
        lock, artifacts = ref.state / "registry.lock", None
    # MLflow creates (or migrates) the database on first use in a process: one process at a
    # time, so none sees another's half-made tables.
    first = db is not None and uri not in _OPENED
    with _file_lock(lock) if first else contextlib.nullcontext(), translated(configured):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
    _OPENED.add(uri)
    store = Store(client, configured, uri, ref.model, lock, artifacts, ref.state / "models")
    if (uri, ref.model) not in _RECOVERED:
        with translated(configured):
            recover(client, ref.model, artifacts)
        _RECOVERED.add((uri, ref.model))
    return store
