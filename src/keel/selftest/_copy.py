"""Scratch copies of a user's system for `keel selftest`.

The system's folder is copied once (keel.toml, schema, data, code, tests; not .git, virtualenvs
or Keel's state, except `.keel/cache`, so the copy reuses the trained model and every cached
result of the user's last `keel score`). The copy's keel.toml points `[registry] uri` at
`<copy>/.selftest/registry.db` and `[data] serving_log` at `<copy>/.selftest/log`, never at the
user's; data named by a path outside the folder is kept where it is (read only) by naming it
absolutely. When the user's system is in a git repository, the copy gets one of its own
(`keel.selftest._repo`: the user's `.git` is never copied or written), committed, so model.1
can be proved on it. Each clean and faulty run then works on a clone of that template.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from typing import Any

from keel.selftest import _repo, _toml
from keel.selftest.fault import Copy

SKIPPED = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".selftest"}
KEEL_KEPT = {"cache"}  # of the user's .keel/: the cache only (no registry, log, reports)


def _ignore(source: Path):  # noqa: ANN202 (shutil's ignore callable)
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        skipped = {n for n in names if n in SKIPPED}
        if here.name == ".keel" and here.parent == source:
            skipped |= {n for n in names if n not in KEEL_KEPT}
        return skipped

    return ignore


def _outside(value: Any, source: Path) -> Any:
    """A relative path leaving the system's folder, made absolute (read where it is)."""
    if not isinstance(value, str) or "://" in value or Path(value).is_absolute():
        return value
    resolved = (source / value).resolve()
    return value if resolved.is_relative_to(source) else str(resolved)


def make_template(config_file: Path, dest: Path) -> Copy:
    """Copy the system whose keel.toml is `config_file` to `dest` (see the module docstring)."""
    source = config_file.parent.resolve()
    shutil.copytree(source, dest, ignore=_ignore(source), symlinks=True)
    copy = copy_at(dest, config_file.name)
    data = _toml.read(copy.config_file)
    section = data.setdefault("data", {})
    for key in ("train", "eval", "labels", "schema"):
        if key in section:
            section[key] = _outside(section[key], source)
    tests = data.get("model", {}).get("tests")
    if tests is not None:
        data["model"]["tests"] = _outside(tests, source)
    section["serving_log"] = str(copy.log_folder)
    data.setdefault("registry", {})["uri"] = copy.registry_uri
    data["registry"].setdefault("model", data.get("system", {}).get("name", "model"))
    copy.log_folder.parent.mkdir(parents=True, exist_ok=True)
    _toml.write(copy.config_file, data)
    tracked = _repo.tracked_files(source)
    if tracked is not None:
        _repo.make_repository(dest, tracked, config_file.name)
    return copy


def copy_at(root: Path, config_name: str = "keel.toml") -> Copy:
    """The `Copy` describing a copied system at `root` (registry and log inside it)."""
    root = root.resolve()
    return Copy(
        root=root,
        config_file=root / config_name,
        registry_uri=f"sqlite:///{root / '.selftest' / 'registry.db'}",
        log_folder=root / ".selftest" / "log",
    )


def clone(template: Copy, dest: Path) -> Copy:
    """A fresh copy of the template at `dest`, its keel.toml pointing at its own registry and
    log (committed, when the copy has a repository: the clone starts clean)."""
    shutil.copytree(template.root, dest, symlinks=True)
    copy = copy_at(dest, template.config_file.name)
    data = _toml.read(copy.config_file)
    data["data"]["serving_log"] = str(copy.log_folder)
    data["registry"]["uri"] = copy.registry_uri
    _toml.write(copy.config_file, data)
    copy.log_folder.parent.mkdir(parents=True, exist_ok=True)
    if _repo.is_repository(dest):
        _repo.commit_changes(dest, "keel selftest: this copy's own registry and log")
    return copy


def forget_modules(root: Path) -> None:
    """Drop the modules imported from `root` (a fault edited them on disk): the next import
    reads the planted code."""
    root = root.resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(root):
            del sys.modules[name]
    importlib.invalidate_caches()
