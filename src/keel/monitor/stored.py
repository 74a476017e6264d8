"""The window summaries the intake stored: loaded per window, and compacted into one file each.

The intake writes one summary per rolled part and window (`keel.monitor.intake.record`:
`summaries/<window>/v<version>/<part>.json`). A log sealed every minute and monitored every
few minutes makes hundreds of parts a day, and every run loads every window, so after each
intake the windows it touched are compacted (`compact`): their summaries merged into one
`window.json` (written atomically), then the part files it covers deleted. A crash between the
two leaves both; the merged file's `parts` list says which parts it covers, so a loader skips
a part file it already holds (`load_window`) and the next compaction deletes it. Compactions
take turns under a lock, so one never drops a summary another is merging.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from keel.atomic import write_text_atomic
from keel.errors import KeelError
from keel.monitor.summary import PartSummary
from keel.monitor.windows import folder_name

MERGED = "window.json"  # a window's compacted summary, beside the part summaries not in it yet
_LOCK = ".compact.lock"


def window_folder(state_dir: Path, window: str, version: int) -> Path:
    """Where the summaries of one window and model version are kept."""
    return Path(state_dir) / "summaries" / folder_name(window) / f"v{version}"


def _read(path: Path, state_dir: Path) -> PartSummary:
    try:
        return PartSummary.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise KeelError(
            f"{path}: a damaged monitor summary ({exc}); delete it and the "
            f"matching .done marker(s) under {Path(state_dir) / 'parts'} to "
            "take its part(s) again"
        ) from None


def load_window(folder: Path, state_dir: Path) -> tuple[PartSummary | None, list[Path]]:
    """One window's summary (its merged file and every part summary it does not cover yet),
    and the files it was read from; a part summary the merged file covers is left out."""
    merged = folder / MERGED
    summary = _read(merged, state_dir) if merged.exists() else None
    covered = set(summary.parts) if summary is not None else set()
    read = [merged] if summary is not None else []
    for path in sorted(folder.glob("*.json")):
        if path.name == MERGED or path.stem in covered:
            continue
        part = _read(path, state_dir)
        if set(part.parts) <= covered:  # merged already (a crash left the file behind)
            continue
        if set(part.parts) & covered:
            raise KeelError(
                f"{path}: a monitor summary that overlaps {merged} without being in it; "
                "delete the window's folder and its parts' .done markers to take it again"
            )
        summary = part if summary is None else summary.merge(part)
        covered |= set(part.parts)
        read.append(path)
    return summary, read


def load_windows(state_dir: str | Path) -> dict[tuple[str, int], PartSummary]:
    """Every window × model version summarised so far, merged from its parts, oldest first."""
    state_dir = Path(state_dir)
    root = state_dir / "summaries"
    merged: dict[tuple[str, int], PartSummary] = {}
    if not root.is_dir():
        return merged
    for folder in sorted(root.glob("*/v*")):
        if not folder.is_dir():
            continue
        summary, _ = load_window(folder, state_dir)
        if summary is None:
            continue
        key = (summary.window, summary.model_version)
        merged[key] = merged[key].merge(summary) if key in merged else summary
    return dict(sorted(merged.items()))


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    root = state_dir / "summaries"
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compact(state_dir: str | Path, windows: Iterable[tuple[str, int]]) -> int:
    """Merge each of `windows`' (window, version) summaries into its one `window.json`, then
    delete the part summaries it covers (see the module docstring); the files deleted."""
    state_dir = Path(state_dir)
    deleted = 0
    with _locked(state_dir):
        for window, version in sorted(set(windows)):
            folder = window_folder(state_dir, window, version)
            if not folder.is_dir():
                continue
            summary, read = load_window(folder, state_dir)
            stale = [p for p in folder.glob("*.json") if p.name != MERGED and p not in read]
            if summary is None or (read == [folder / MERGED] and not stale):
                continue
            write_text_atomic(folder / MERGED, json.dumps(summary.to_dict()))
            _fsync_dir(folder)  # the merged file is durable before what it covers goes
            for path in [*read, *stale]:
                if path.name != MERGED:
                    path.unlink(missing_ok=True)
                    deleted += 1
            _fsync_dir(folder)
    return deleted
