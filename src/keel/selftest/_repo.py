"""The scratch copy's own git repository, so that model.1 can be proved on a copy.

model.1 asks git whether the training code and keel.toml are tracked and committed. The copy
never holds the user's `.git` (it is neither copied nor written): when the user's system is in
a git repository, the template gets a new repository of its own, with one commit of the files
the user's repository tracks in the system's folder, keel.toml, and every Python file of the
copy (the training and feature code model.1 reads, tracked or not in the user's). Each clone
commits its own keel.toml (which names its own registry and log), so a copy starts clean.

Every git command here runs on the copy only: `--git-dir` and `--work-tree` name it, the
caller's GIT_* variables (a hook's GIT_DIR, say) are dropped, hooks and signing are off, and
the author is fixed, so it works on a machine with no git identity. The only command run in
the user's folder is `git ls-files`, which reads.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from keel.errors import KeelError
from keel.git import tracked_files as git_tracked_files

AUTHOR = ("keel selftest", "selftest@keel.invalid")
SKIPPED_DIRS = {".git", ".keel", ".selftest", "__pycache__", ".venv", "venv", "node_modules"}
SETTINGS = (
    f"user.name={AUTHOR[0]}",
    f"user.email={AUTHOR[1]}",
    "commit.gpgsign=false",
    "core.hooksPath=/dev/null",
    "core.autocrlf=false",
    "core.fsmonitor=false",
    "init.defaultBranch=main",
)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _run(root: Path, args: list[str], stdin: str | None = None) -> str:
    """A git command on the copy at `root` (its own repository, never another)."""
    settings = [part for s in SETTINGS for part in ("-c", s)]
    where = [f"--git-dir={root / '.git'}", f"--work-tree={root}", "--literal-pathspecs"]
    try:
        out = subprocess.run(
            ["git", *settings, *where, *args],
            cwd=root,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=_env(),
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        raise KeelError(f"keel selftest: git {args[0]} failed in the copy {root}: {exc}") from exc
    if out.returncode != 0:
        raise KeelError(
            f"keel selftest: git {args[0]} failed in the copy {root}: {out.stderr.strip()}"
        )
    return out.stdout


def tracked_files(folder: Path) -> list[str] | None:
    """The files the user's git repository tracks under `folder` (relative to it), or None
    when `folder` is not in a git repository (or git is not installed). Read only; GIT_*
    variables dropped, as for every git command of the selftest."""
    return git_tracked_files(folder, env=_env())


def _python_files(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if not any(part in SKIPPED_DIRS for part in rel.parts[:-1]):
            found.append(rel.as_posix())
    return found


def make_repository(root: Path, tracked: list[str], config_name: str = "keel.toml") -> str:
    """A new git repository in the copy at `root`, with one commit of `tracked` (the user's
    tracked files, as copied), keel.toml and the copy's Python files. Its commit."""
    names = dict.fromkeys([*tracked, config_name, *_python_files(root)])
    present = [n for n in names if (root / n).is_file() and not (root / n).is_symlink()]
    _run(root, ["init", "-q"])
    exclude = root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("/.keel/\n/.selftest/\n__pycache__/\n", encoding="utf-8")
    _run(root, ["add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul"], "\0".join(present))
    _run(root, ["commit", "-q", "--no-verify", "-m", "keel selftest: the copied system"])
    return _run(root, ["rev-parse", "HEAD"]).strip()


def is_repository(root: Path) -> bool:
    """Whether the copy at `root` has a repository of its own (the user's system is in git)."""
    return (root / ".git" / "HEAD").is_file()


def commit_changes(root: Path, message: str) -> None:
    """Commit every change to the copy's tracked files (nothing when there is none)."""
    if _run(root, ["status", "--porcelain", "--untracked-files=no"]).strip():
        _run(root, ["commit", "-q", "--no-verify", "-a", "-m", message])
