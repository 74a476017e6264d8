"""What a model version is made from, fingerprinted: its code files and its data splits.

Lineage records these with every registered version (`keel.training`), and monitor.1 reads
them again to tell what changed since. The code is the training and feature entry points'
modules and the user's modules they import, wherever those live, named independently of the
machine (relative to the system's folder, or to the `sys.path` entry they are imported from),
so the same code gives the same names and hashes anywhere. Nothing here imports the training
code's libraries when it can be avoided (see `entry_files`), nor MLflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from keel.atomic import write_text_atomic
from keel.cache import digest
from keel.data.sources import describe
from keel.dependencies import user_module_files

if TYPE_CHECKING:
    from keel.registry.lineage import DataFacts
    from keel.system import System

__all__ = [
    "data_fingerprint",
    "entry_files",
    "model_code_hash",
    "model_code_hashes",
    "newest_time",
    "schema_hash",
    "shown_path",
]


def shown_path(path: Path, root: Path) -> str:
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
    return {name: sha for name, (_, sha) in entry_files(system).items()}


def entry_files(system: System) -> dict[str, tuple[Path, str]]:
    """The files of the entry points' modules and of the user's modules they import
    (`keel.dependencies.user_module_files`), by machine-independent name: (file, SHA-256).

    Which files those are is found by importing the entry points and following their imports
    (which imports the libraries they use: scikit-learn, say). The files found are kept in
    `.keel/cache/model-code.json` with their hashes: while every one of them is unchanged, the
    imports they make are the same, and the answer is given without importing (`keel monitor`
    never imports the training code's libraries)."""
    model = system.config.model
    entries = [spec.split(":")[0] for spec in (model.train, model.features) if spec]
    root = system.root.resolve()
    kept_file = system.keel_dir / "cache" / "model-code.json"
    try:
        kept = json.loads(kept_file.read_text(encoding="utf-8"))
        same = kept["entries"] == entries and kept["root"] == str(root)
        if same and all(_sha256(Path(p)) == h for p, h in kept["files"].items()):
            return {kept["shown"][p]: (Path(p), h) for p, h in kept["files"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass  # nothing kept, or a file changed: import and follow the imports again
    system.train_function  # noqa: B018 (import the entry points first)
    system.features_function  # noqa: B018
    files = {str(p): _sha256(p) for p in user_module_files(system.root, entries) if p.is_file()}
    shown = {p: shown_path(Path(p).resolve(), root) for p in files}
    with contextlib.suppress(OSError):  # a read-only folder: follow the imports every time
        kept_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {"entries": entries, "root": str(root), "files": files, "shown": shown}
        write_text_atomic(kept_file, json.dumps(payload))
    return {shown[p]: (Path(p), h) for p, h in files.items() if h is not None}


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


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
