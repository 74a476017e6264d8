"""Which registry, and which model in it: the one argument every registry function takes.

A `RegistryRef` is plain data (a `keel.System` builds one with `keel.training.registry_ref`;
a server builds one from its own settings), so the registry never needs the configuration,
the data or the trained model of a system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
