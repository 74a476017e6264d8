"""What a SQLite registry holds, read without MLflow while the database has not changed.

Monitoring reads the registry on every run (the serving version, every version's metrics and
artefact, the audit trail) but changes nothing in it. Opening the registry through MLflow
costs more than the whole judgement of a run: importing MLflow (about 1.5 s) and its first
connection (schema checks, about 1 s). So the versions and events read once are kept in the
system's `.keel/cache`, with the database's signature: the inode, size, change and
modification times of the database file and of its `-wal` and `-journal` files. Any write
to the database (a registration, a promotion, a tag, a score) changes the signature, and the
next read goes through MLflow again.

A write within the file system's timestamp granularity after the read could leave the
signature as it was (the race git calls "racily clean"), so a snapshot is kept only when the
database was last modified more than `SETTLED_S` seconds before the read began, and when the
signature after the read is the one before it. Registries that are not a local SQLite file
(an MLflow server, PostgreSQL) are always read through MLflow.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from keel.atomic import write_text_atomic
from keel.registry.feature_code import FeatureCode, load_feature_code, unloadable
from keel.registry.records import Event, ModelVersion
from keel.registry.ref import RegistryRef, sqlite_file, tracking_uri

__all__ = ["Snapshot", "champion", "feature_code", "history", "list_versions", "read"]

CHAMPION = "champion"  # the alias of the serving version (keel.registry.versions.CHAMPION)
SETTLED_S = 2.0  # a database modified this recently is read, never kept (see the docstring)
_FORMAT = 1  # the kept file's layout


@dataclass
class Snapshot:
    """The model's registered versions (newest first) and its audit events (newest first)."""

    versions: list[ModelVersion]
    events: list[Event]

    def champion(self) -> ModelVersion | None:
        """The serving version (alias `champion`), or None before the first promotion."""
        return next((v for v in self.versions if CHAMPION in v.aliases), None)

    def version(self, number: int) -> ModelVersion | None:
        """Version `number`, or None when the registry does not hold it."""
        return next((v for v in self.versions if v.version == number), None)


_READ: dict[tuple[str, str, str], Snapshot] = {}  # this process: signature -> snapshot


def _signature(db: Path) -> list[Any] | None:
    """What changes when the database is written (None when it does not exist)."""
    found = []
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")):
        try:
            st = path.stat()
        except FileNotFoundError:
            found.append(None)
            continue
        found.append([st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return None if found[0] is None else found


def _newest_change(signature: list[Any]) -> float:
    return max(max(s[2], s[3]) for s in signature if s is not None) / 1e9


def _kept_file(ref: RegistryRef, db: Path) -> Path:
    name = hashlib.sha256(f"{db}|{ref.model}".encode()).hexdigest()[:16]
    return ref.state / "cache" / f"registry-{name}.json"


def _through_mlflow(ref: RegistryRef) -> Snapshot:
    from keel.registry.audit import history as read_history
    from keel.registry.versions import list_versions as read_versions

    return Snapshot(read_versions(ref), read_history(ref))


def read(ref: RegistryRef) -> Snapshot:
    """The registry's versions and events: kept ones while the SQLite database is unchanged
    (see the module docstring), else read through MLflow (and kept when settled). Raises as
    `keel.registry.versions.list_versions` does when the registry cannot be read."""
    db = sqlite_file(tracking_uri(ref.uri, ref.root))
    before = None if db is None else _signature(db)
    if db is None or before is None:
        return _through_mlflow(ref)
    key = (str(db), ref.model, json.dumps(before))
    if key in _READ:
        return _READ[key]
    kept = _kept_file(ref, db)
    try:
        data = json.loads(kept.read_text(encoding="utf-8"))
        if data.get("format") == _FORMAT and data.get("signature") == before:
            found = Snapshot(
                [ModelVersion(**v) for v in data["versions"]],
                [Event(**e) for e in data["events"]],
            )
            _READ[key] = found
            return found
    except (OSError, ValueError, TypeError, KeyError):
        pass  # none kept, or unreadable: read it again
    began = time.time()
    found = _through_mlflow(ref)
    after = _signature(db)
    if after == before and began - _newest_change(before) > SETTLED_S:
        payload = {
            "format": _FORMAT,
            "signature": before,
            "versions": [asdict(v) for v in found.versions],
            "events": [asdict(e) for e in found.events],
        }
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(kept, json.dumps(payload))
            _READ[key] = found
        except OSError:
            pass  # a read-only folder: read through MLflow every time
    return found


def champion(ref: RegistryRef) -> ModelVersion | None:
    """The serving version, as `keel.registry.versions.champion` gives it."""
    return read(ref).champion()


def list_versions(ref: RegistryRef) -> list[ModelVersion]:
    """Every registered version, newest first, as `keel.registry.versions.list_versions`."""
    return read(ref).versions


def history(ref: RegistryRef) -> list[Event]:
    """The audit events, newest first, as `keel.registry.audit.history` gives them."""
    return read(ref).events


_FEATURES: dict[str, FeatureCode] = {}  # this process: artefact -> its loaded feature code


def feature_code(ref: RegistryRef, version: int) -> FeatureCode | None:
    """Version `version`'s own feature code (its registered copy), or None when the registry
    does not hold the version. A local artefact is loaded where it lies, without MLflow;
    `RegistryError` when it is missing or corrupt (as `keel.registry.versions.load_features`)."""
    mv = read(ref).version(version)
    if mv is None:
        return None
    key = f"{ref.uri}|{ref.model}|{mv.version}|{mv.run_id}|{mv.source}"
    if key not in _FEATURES:
        parsed = urlparse(mv.source)
        if parsed.scheme in ("file", "") and os.path.isdir(unquote(parsed.path)):
            _FEATURES[key] = _load_local(ref, mv, Path(unquote(parsed.path)))
        else:  # remote, or not where it was registered: MLflow finds and reports it
            from keel.registry.store import connect, translated
            from keel.registry.versions import find_version, load_features

            store = connect(ref)
            with translated(store.uri):
                _FEATURES[key] = load_features(store, find_version(store, version))
    return _FEATURES[key]


def _load_local(ref: RegistryRef, mv: ModelVersion, folder: Path) -> FeatureCode:
    try:
        return load_feature_code(folder)
    except Exception as exc:
        what = f"the feature code of version {mv.version}"
        raise unloadable(what, ref.model, mv.source, exc) from None
