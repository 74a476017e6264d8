"""Asking git about the files of a system: tracked, clean, and at which commit.

Used by model.1 (are the code and keel.toml checked in?), the lineage of a registered version
(its commit) and the score history (the commit a score was taken at).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class GitState:
    """What git says about some files: the commit, and which files are untracked or changed."""

    top: Path
    commit: str
    untracked: list[str]
    modified: list[str]


def _git(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60, env=env
    )


def repository_top(folder: Path) -> Path | None:
    """The top of the git work tree holding `folder`, or None outside one (or without git)."""
    try:
        out = _git(["rev-parse", "--show-toplevel"], folder)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def head_commit(folder: Path) -> str | None:
    """The commit checked out at `folder`, or None outside a repository or before any commit."""
    try:
        out = _git(["rev-parse", "HEAD"], folder)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def tracked_files(folder: Path, *, env: dict[str, str] | None = None) -> list[str] | None:
    """The files git tracks under `folder` (relative to it), or None when `folder` is not in a
    git repository (or git is not installed). Read only; `env` is git's environment (default:
    this process's)."""
    if repository_top(folder) is None:
        return None
    try:
        out = _git(["ls-files", "-z", "--", "."], folder, env)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [name for name in out.stdout.split("\0") if name]


def file_state(folder: Path, files: list[Path]) -> GitState | None:
    """Which of `files` git does not track, and which differ from the commit (None: no repo).

    Files outside the work tree are left out (the caller names them): git cannot tell.
    """
    top = repository_top(folder)
    if top is None:
        return None
    commit = head_commit(folder) or ""
    inside = [f.resolve() for f in files if f.resolve().is_relative_to(top.resolve())]
    rels = [str(f.relative_to(top.resolve())) for f in inside]
    if not rels:
        return GitState(top, commit, [], [])
    tracked = set(_git(["ls-files", "-z", "--", *rels], top).stdout.split("\0"))
    untracked = [rel for rel in rels if rel not in tracked]
    modified: list[str] = []
    status = _git(["status", "--porcelain", "--", *rels], top).stdout.splitlines()
    for line in status:
        path = line[3:].strip()
        if path in rels and path not in untracked:
            modified.append(path)
    return GitState(top, commit, untracked, modified)
