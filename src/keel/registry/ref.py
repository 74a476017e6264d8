"""Which registry, and which model in it: the one argument every registry function takes.

A `RegistryRef` is plain data (a `keel.System` builds one with `keel.training.registry_ref`;
a server builds one from its own settings), so the registry never needs the configuration,
the data or the trained model of a system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SQLITE_TIMEOUT_S = 30  # how long a SQLite writer waits for another (MLflow's busy timeout)


@dataclass(frozen=True)
class RegistryRef:
    """Where a model's versions are kept, and what the registry may write beside them.

    `uri` is `[registry] uri` as written in keel.toml (a relative SQLite path is resolved
    against `root`, the system's folder); `model` is the registered model's name; `system`
    names the system, whose `keel score` runs are kept in the experiment `keel/<system>/scores`;
    `state` is the folder for Keel's own files (the lock of a remote store, artefacts
    downloaded from it): the system's `.keel`.
    """

    uri: str
    root: Path
    model: str
    system: str
    state: Path


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
    """The database file of a SQLite tracking URI (None for other stores and in-memory ones)."""
    path = uri.removeprefix("sqlite:///").partition("?")[0]
    if not uri.startswith("sqlite:///") or path in ("", ":memory:"):
        return None
    return Path(path)
