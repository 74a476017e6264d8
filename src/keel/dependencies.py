"""What a system's trained state depends on besides its data and keel.toml.

The cache key of a `System` (and the environment recorded with a model) is built from these:

    user_module_files    the user's source files, followed from the entry point modules
                         through their imports (a sibling package on `sys.path`, say)
    imported_top_names   the top-level modules those files import
    package_versions     the installed distributions providing them, with the packages they
                         require, and their versions (kept per process until `installed_state`
                         changes)
    installed_state      where this interpreter finds its distributions, and when each such
                         folder last changed: a key for results computed from what is installed
    distribution_closure every installed distribution a set of distributions requires,
                         transitively (monitor.1's fingerprint of a model's environment)
    keel_source_hash     Keel's own source: results of an edited Keel (a development install)
                         are not served from a cache written by another
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Iterable
from pathlib import Path


@functools.cache
def keel_source_hash() -> str:
    """A hash of Keel's own source: results of an edited Keel (a development install) are not
    served from a cache written by another."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".json", ".j2") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(package)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _library_paths() -> list[Path]:
    """Folders of the standard library and installed packages (not the user's own code)."""
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return [Path(p).resolve() for p in paths if p]


def user_module_files(root: Path, entry_modules: list[str]) -> list[Path]:
    """Source files of the user's code that the system imports: the entry point modules
    wherever they live, and, followed through their imports, every imported module that is
    neither Keel's nor in the standard library or installed packages (a sibling package of the
    user's on `sys.path`, say). Files under `root` are hashed by the caller in any case."""
    libraries = _library_paths()

    def users(name: str) -> Path | None:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None) if module else None
        if not file or not file.endswith(".py"):
            return None
        path = Path(file).resolve()
        if name in entry_modules:
            return path
        if name == "keel" or name.startswith("keel.") or "site-packages" in path.parts:
            return None
        return None if any(path.is_relative_to(lib) for lib in libraries) else path

    files: set[Path] = set()
    todo = list(entry_modules)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = users(name)
        if path is None:
            continue
        files.add(path)
        todo.extend(_imported_names(path, name))
    return sorted(files)


def _imported_names(path: Path, module: str | None) -> list[str]:
    """Full names of the modules a source file imports, with each of their parent packages.

    Relative imports are resolved against `module` (the file's own module name), or left out
    when it is None.
    """
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return []
    package = ""
    if module is not None:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level and module is None:
                continue
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, base] if base else parts)
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names if base]
    full: list[str] = []
    for name in names:
        parts = name.split(".")
        full += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return [n for n in full if n]


def imported_top_names(files: list[Path]) -> set[str]:
    """Top-level names of the modules that these source files import (absolute imports)."""
    return {name.split(".")[0] for file in files for name in _imported_names(file, None)}


def installed_state() -> str:
    """A digest of the distributions this interpreter finds: the interpreter, and for each
    `sys.path` folder holding distributions, the names of their metadata folders
    (`scipy-1.14.1.dist-info`: name and version) and the folder's modification time (a
    reinstall recreates its metadata folder). Installing, removing or upgrading a distribution
    changes it, so a result keyed by it (which distributions provide which modules, and their
    versions) is computed again then; folders without distributions (the working directory,
    the user's code) change it only when one is installed there."""
    parts = [sys.executable, sys.version]
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as found:
                names = sorted(e.name for e in found if e.name.endswith(_METADATA))
        except OSError:  # not a folder (a zip file) or gone
            names = []
        if names:
            parts.append(f"{entry}\0{os.stat(entry or '.').st_mtime_ns}\0" + "\0".join(names))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


_METADATA = (".dist-info", ".egg-info")  # a distribution's metadata, as importlib finds it
_VERSIONS: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}


def package_versions(top_names: set[str]) -> dict[str, str]:
    """Installed distributions providing these modules, with the packages they require
    (transitively), and their versions: what the trained model's behaviour depends on.
    Reading every distribution's files takes about a second, so the answer is kept for this
    process while `installed_state()` stays the same."""
    import importlib.metadata as md

    key = (installed_state(), tuple(sorted(top_names)))
    if key not in _VERSIONS:
        for stale in [k for k in _VERSIONS if k[0] != key[0]]:  # what was installed before
            del _VERSIONS[stale]
        by_module = md.packages_distributions()
        wanted = [d for name in key[1] for d in by_module.get(name, [])]
        _VERSIONS[key] = distribution_closure(wanted)
    return dict(_VERSIONS[key])


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _required(requirement: str) -> str | None:
    """The distribution a requirement line names, or None when it does not apply here: an
    extra's requirement, or a marker this interpreter and platform do not meet."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging comes with MLflow, which Keel needs
        if "extra ==" in requirement:
            return None
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        return match.group(0) if match else None
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return None
    if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
        return None
    return parsed.name


def distribution_closure(names: Iterable[str]) -> dict[str, str]:
    """Every installed distribution in the closure of `names` (distribution names or
    `name==version` pins): each one, and what it requires, followed recursively, with their
    installed versions, keyed by normalised name. Requirements of extras, requirements whose
    marker does not hold here, and distributions not installed are left out."""
    import importlib.metadata as md

    todo = [re.split(r"[=<>!~;\[ ]", n.strip(), maxsplit=1)[0] for n in names]
    versions: dict[str, str] = {}
    while todo:
        dist = todo.pop()
        key = _normalised(dist)
        if not dist or key in versions:
            continue
        try:
            meta = md.distribution(dist)
        except md.PackageNotFoundError:
            continue
        versions[key] = meta.version
        for requirement in meta.requires or []:
            required = _required(requirement)
            if required is not None:
                todo.append(required)
    return dict(sorted(versions.items()))


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


def kept_entry_files(
    root: Path, entries: list[str], import_entries: Callable[[], None], kept_file: Path | None
) -> dict[str, tuple[Path, str]]:
    """`user_module_files` of the entry modules, by `shown_path` name: (file, SHA-256).

    Which files those are is found by importing the entry points (`import_entries`) and
    following their imports, which imports the libraries they use (scikit-learn, say). The
    files found are kept in `kept_file` with their hashes: while every one of them is
    unchanged, the imports they make are the same, and the answer is given without importing
    (so `keel monitor` never imports the training code's libraries). With `kept_file` None
    nothing is read or kept."""
    root = root.resolve()
    try:
        if kept_file is None:
            raise FileNotFoundError  # nothing kept: import and follow
        kept = json.loads(kept_file.read_text(encoding="utf-8"))
        same = kept["entries"] == entries and kept["root"] == str(root)
        if same and all(_sha256(Path(p)) == h for p, h in kept["files"].items()):
            return {kept["shown"][p]: (Path(p), h) for p, h in kept["files"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass  # nothing kept, or a file changed: import and follow the imports again
    import_entries()
    files = {str(p): _sha256(p) for p in user_module_files(root, entries) if p.is_file()}
    shown = {p: shown_path(Path(p).resolve(), root) for p in files}
    with contextlib.suppress(OSError):  # a read-only folder: follow the imports every time
        from keel.atomic import write_text_atomic

        if kept_file is None:
            raise FileNotFoundError  # asked not to keep anything
        kept_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {"entries": entries, "root": str(root), "files": files, "shown": shown}
        write_text_atomic(kept_file, json.dumps(payload))
    return {shown[p]: (Path(p), h) for p, h in files.items() if h is not None}


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
