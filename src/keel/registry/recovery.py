"""Cleaning up after trainings that did not finish: interrupted, failed or killed outright.

A training run is opened before training, tagged with its process id, host and start
(`owner_tags`), and the artefact is saved in a temporary folder named for the process
(`TEMP_PREFIX`). A training that raises or is interrupted is ended by `abandon` (FAILED or
KILLED, its artefacts removed). A process killed outright (kill -9, a crash, a lost machine)
leaves its run RUNNING and its folder behind: `recover`, run by `keel.registry.store.connect`
the first time a process opens a model's store, ends such runs of this host as FAILED and
removes what they left.

These functions take the MLflow client and the local artefact folder, not a `Store`: the store
connection calls `recover`, so this module cannot import it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from keel.registry._mlflow import quiet
from keel.registry._who import now

TEMP_PREFIX = "keel-model-"  # temporary folders of `keel train`: keel-model-<pid>-<random>


def owner_tags() -> dict[str, str]:
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


def _has_version(client: Any, run_id: str) -> bool:
    found = client.search_model_versions(f"run_id = '{run_id}'", max_results=1)
    return len(found) > 0


def _remove_artifacts(client: Any, artifacts: Path | None, run_id: str) -> bool:
    """Delete a run's artefact folder from a local store (never a registered version's)."""
    if artifacts is None or _has_version(client, run_id):
        return False
    uri = client.get_run(run_id).info.artifact_uri or ""
    parsed = urlparse(uri)
    if parsed.scheme not in ("file", ""):
        return False
    folder = Path(unquote(parsed.path)).parent  # …/<run id>/artifacts → …/<run id>
    if folder.name != run_id or not folder.resolve().is_relative_to(artifacts.resolve()):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def abandon(
    client: Any, run_id: str, status: str, *, artifacts: Path | None, note: str = ""
) -> None:
    """End a training run that did not register a version, and remove its artefacts from a
    local store (`artifacts`: where it keeps them; None for a remote one)."""
    try:
        with quiet():
            if note:
                client.set_tag(run_id, "keel.abandoned", note)
            _remove_artifacts(client, artifacts, run_id)
            client.set_terminated(run_id, status)
    except Exception:  # cleaning up must not hide why the training ended
        pass


def recover(client: Any, model: str, artifacts: Path | None) -> list[str]:
    """Clean up after trainings of `model` whose process died (kill -9, a crash, a lost machine).

    Runs of this host still RUNNING whose process (tag `keel.pid`) no longer exists are
    ended as FAILED with a `keel.abandoned` note, and their artefact folders removed; so are
    temporary folders of `keel train` left by dead processes. Returns what was cleaned.
    """
    cleaned = []
    host = socket.gethostname()
    found = client.get_experiment_by_name(f"keel/{model}")
    if found is not None:
        runs = client.search_runs(
            [found.experiment_id], "attributes.status = 'RUNNING'", max_results=1000
        )
        for run in runs:
            tags = run.data.tags
            pid = tags.get("keel.pid", "")
            if tags.get("keel.host") != host or not pid.isdigit() or _alive(int(pid)):
                continue
            note = f"process {pid} on {host} ended without finishing; found at {now()}"
            abandon(client, run.info.run_id, "FAILED", artifacts=artifacts, note=note)
            cleaned.append(f"run {run.info.run_id}: {note}")
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = folder.name.removeprefix(TEMP_PREFIX).split("-")[0]
        if folder.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            cleaned.append(f"temporary folder {folder}")
    return cleaned
