"""What a model version is made from, fingerprinted: its code files and its data splits.

Lineage records these with every registered version (`keel.training`), and monitor.1 reads
them again to tell what changed since. The code is the training and feature entry points'
modules and the user's modules they import, wherever those live, named independently of the
machine (relative to the system's folder, or to the `sys.path` entry they are imported from),
so the same code gives the same names and hashes anywhere. Nothing here imports the training
code's libraries when it can be avoided (`System.entry_files`), nor MLflow.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pandas as pd

from keel.cache import digest
from keel.data.sources import describe
from keel.dependencies import shown_path

if TYPE_CHECKING:
    from keel.registry.lineage import DataFacts
    from keel.system import System

__all__ = [
    "data_fingerprint",
    "model_code_hash",
    "model_code_hashes",
    "newest_time",
    "schema_hash",
]


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
        name = shown_path(path.resolve(), root)
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
    return {name: sha for name, (_, sha) in system.entry_files().items()}


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
