"""The files that specify a system's model, as model.1 checks them in git: keel.toml and the
training and feature code, less the entry points that are Keel's own."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from keel.errors import KeelError
from keel.system import System


def is_keel_own(func: object) -> bool:
    """Whether an entry point is Keel's own code (e.g. `keel.trainers:gradient_boosting`)."""
    import keel

    module = sys.modules.get(getattr(func, "__module__", "") or "")
    file = getattr(module, "__file__", None)
    if not file:
        return False
    return Path(file).resolve().is_relative_to(Path(keel.__file__).resolve().parent)


def code_files(system: System) -> tuple[list[Path], list[str]]:
    """keel.toml and every Python file of the packages holding the training and feature code.

    Also the entry points that are Keel's own (`keel.trainers:gradient_boosting`, as `keel
    init` writes it): their code is versioned with Keel, not with the system, so it is left out
    and named instead.
    """
    files = [system.config_file] if system.config_file else []
    own = []
    entries = (
        ("[model] train", system.config.model.train, system.train_function),
        ("[model] features", system.config.model.features, system.features_function),
    )
    for key, spec, func in entries:
        if func is None:
            continue
        if is_keel_own(func):
            own.append(f"{key} = {spec}")
            continue
        module = sys.modules[func.__module__]
        top = sys.modules[func.__module__.split(".")[0]]
        top_file = Path(getattr(top, "__file__", "") or module.__file__)
        if top_file.name == "__init__.py":
            files.extend(sorted(top_file.parent.rglob("*.py")))
        else:
            files.append(Path(module.__file__))
    files = [f for f in files if "__pycache__" not in f.parts]
    return list(dict.fromkeys(f.resolve() for f in files)), own


def uncommitted(system: System) -> list[str] | None:
    """The files of `code_files` that git does not hold as committed (untracked, modified or
    outside the repository), or None when the system is not in a git repository: what a
    version's lineage records at registration, so model.1 can tell it was trained from a
    reviewed commit."""
    from keel.git import file_state

    files, _ = code_files(system)
    state = file_state(system.root, files)
    if state is None:
        return None
    top = state.top.resolve()
    outside = [str(f) for f in files if not f.is_relative_to(top)]
    return sorted(outside + state.untracked + state.modified)


@dataclass
class RecordedCommit:
    """What the version that serves (else the newest registered one) recorded of git at its
    registration; `problem` says why it cannot count as trained from a reviewed commit."""

    version: int | None = None
    commit: str | None = None
    problem: str | None = None
    hint: str | None = None

    def describe(self) -> str:
        if self.version is None:
            return "no version is registered yet"
        return f"version {self.version} was registered from commit {(self.commit or '')[:12]}"


_RETRAIN = "Commit the training code and keel.toml, then register a version from that commit: "


def recorded_commit(system: System) -> RecordedCommit:
    """The git commit and clean state the serving version (else the newest) recorded."""
    from keel.registry.snapshot import champion, list_versions

    try:
        version = champion(system.registry) or next(iter(list_versions(system.registry)), None)
    except KeelError as exc:
        first = str(exc).splitlines()[0]
        return RecordedCommit(problem=f"the registry cannot be read: {first}", hint=first)
    if version is None:
        return RecordedCommit()
    found = RecordedCommit(version.version, version.lineage.get("git_commit"))
    dirty = version.lineage.get("git_uncommitted", "unknown")
    if not found.commit:
        found.problem = f"version {version.version} recorded no git commit at its registration"
    elif dirty == "unknown":
        found.problem = (
            f"version {version.version} did not record whether its code was committed when it "
            "was registered (registered by an earlier Keel)"
        )
    elif dirty:
        shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
        found.problem = (
            f"version {version.version} was registered from uncommitted code "
            f"(commit {found.commit[:12]} plus changes to {shown})"
        )
    if found.problem:
        found.hint = _RETRAIN + "`keel train`, then `keel promote`."
    return found
