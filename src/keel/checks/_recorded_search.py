"""model.3's recorded search: the system's tuning runs, read from its tracking store.

`recorded_search` reads the runs tagged `keel.tuning = "true"` from the system's tracking
store (only when the store already exists: nothing is created for the question) and judges
them with `keel.model.tuning.recorded_search`, against the present code and data:
`search_fingerprint` (the hash a search tags its runs with) and `newest_change` (the newest
modification of the code and data files, for untagged runs).

Apart from `keel.checks._measure_model` because it reads the registry's store through
`keel.training`, which reads model.4's limit from `keel.checks._measure_model`: together they
would import each other.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from keel.errors import KeelError
from keel.model import tuning
from keel.system import IGNORED_DIRS, System


def search_fingerprint(system: System) -> str:
    """A hash of the system's code and data, to tag tuning runs with (`keel.fingerprint`).

    A run tagged with it counts exactly when code and data are still the ones it was run on;
    [model] params are left out, so setting the best values found keeps the search valid.
    """
    from keel.cache import digest

    found = system.fingerprint()
    return digest(found["code"], found["train"], found["eval"])


def _source_files(source: Any, root: Path) -> list[Path] | None:
    """The files a [data] source reads (None when they cannot be listed)."""
    from keel.data.sources import SqlSource, resolve_paths

    patterns = re.findall(r"'([^']+)'", source.sql) if isinstance(source, SqlSource) else [source]
    files: list[Path] = []
    for pattern in patterns:
        try:
            files.extend(resolve_paths(pattern, root, key="[data]"))
        except KeelError:
            continue
    return files or None


def newest_change(system: System) -> tuple[float | None, str]:
    """(newest modification time of the code and data files, what it was); None: unknown.

    Code: every Python file under the system's folder (as the cache's code hash reads them,
    tests left out). Data: the files of [data] train and eval. keel.toml is not counted:
    setting the best values found after a search must not invalidate it.
    """
    tests = system.config.model.tests
    skip = IGNORED_DIRS | ({Path(tests).parts[0]} if tests else set())
    newest, what = 0.0, ""
    for path in system.root.rglob("*.py"):
        rel = path.relative_to(system.root)
        if any(part in skip or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if path.stat().st_mtime > newest:
            newest, what = path.stat().st_mtime, str(rel)
    data = system.config.data
    for source in (data.train, data.eval):
        if source is None:
            continue
        files = _source_files(source, system.root)
        if files is None:
            return None, f"the files of [data] source {source!r} cannot be listed"
        for path in files:
            if path.stat().st_mtime > newest:
                newest, what = path.stat().st_mtime, str(path)
    return newest, what


def recorded_search(system: System) -> tuning.RecordedSearch | None:
    """The system's recorded hyperparameter search, or None when there is none (see
    `keel.model.tuning.recorded_search` for when it counts)."""
    from keel.registry.store import connect, sqlite_file, tracking_uri, translated
    from keel.training import registry_ref

    uri = tracking_uri(system.config.registry.uri, system.root)
    db = sqlite_file(uri)
    if db is not None and not db.exists():
        return None
    store = connect(registry_ref(system))
    with translated(store.uri):
        experiments = {e.experiment_id: e.name for e in store.client.search_experiments()}
        runs = store.client.search_runs(
            list(experiments),
            filter_string=f"tags.`{tuning.TUNING_TAG}` = 'true'",
            max_results=5000,
        )
    if not runs:
        return None
    return tuning.recorded_search(
        runs,
        experiments,
        system=system.name,
        metric=system.metric_name,
        min_trials=system.config.tuning.min_trials,
        configured=system.config.model.params,
        fingerprint=search_fingerprint(system),
        newest=newest_change(system),
    )
