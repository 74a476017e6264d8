"""A registered version's feature code, imported from the version's own copy of its code.

Monitoring reruns each version's feature code on the raw rows it served (skew), and loading
only that code must not cost what loading the model does: this module imports neither MLflow
nor the estimator's libraries (scikit-learn...), only the user's feature module, from the
artefact folder `keel.registry.artefact.save_model` wrote. `own_imports` is also what
`KeelModel` loads a version's code with, so any number of versions live in one process.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FeatureCode", "load_feature_code", "own_imports", "unloadable"]

META = "keel.json"  # the artefact's own description (task, inputs, feature entry point)


_IMPORTING = threading.RLock()  # one version's import space at a time, in any thread


def _tops(code: Path) -> set[str]:
    """The top-level module and package names a model's code folder provides."""
    names = set()
    for entry in code.iterdir():
        if entry.suffix == ".py":
            names.add(entry.stem)
        elif entry.is_dir() and not entry.name.startswith((".", "__")):
            names.add(entry.name)
    return names


def _owned(name: str, tops: Collection[str]) -> bool:
    return name.split(".")[0] in tops


@contextmanager
def own_imports(code: Path | None) -> Iterator[None]:
    """Import the user's modules from `code` (a model's own copy of its code), whatever this
    process imported before or imports after.

    Versions register code under the same module names (`credit.features` in every version,
    with other contents), and Python keeps one module per name in `sys.modules`. Inside this
    block the modules named like those in `code` are set aside and `code` comes first on
    `sys.path`, so `import` reads this version's files; on leaving, the modules imported here
    are taken out of `sys.modules` again (the loaded functions and classes keep them alive)
    and what was there before is put back, with `sys.path` as it was. So any number of
    versions, and the working tree's own code, live in one process, and a process spawned
    later does not inherit a model's code folder on its path. With `code` None (no code was
    saved with the model) nothing changes.
    """
    if code is None:
        yield
        return
    code = code.resolve()
    with _IMPORTING:
        tops = _tops(code)
        saved_path = [p for p in sys.path if not _same_folder(p, code)]  # MLflow prepended it
        saved = {n: m for n, m in sys.modules.items() if _owned(n, tops)}
        for name in saved:
            del sys.modules[name]
        sys.path.insert(0, str(code))
        importlib.invalidate_caches()
        try:
            yield
        finally:
            for name in [n for n in sys.modules if _owned(n, tops)]:
                del sys.modules[name]
            sys.modules.update(saved)
            sys.path[:] = saved_path
            importlib.invalidate_caches()


def _same_folder(entry: str, folder: Path) -> bool:
    try:
        return Path(entry).resolve() == folder
    except (OSError, ValueError):
        return False


def _feature_function(meta: dict[str, Any]) -> Any:
    """The feature function `keel.json` names (None without one), imported as the caller's
    `own_imports` block has it."""
    if not meta["features"]:
        return None
    module, name = meta["features"].split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class FeatureCode:
    """A version's feature code as its artefact holds it, without its estimator: what
    monitoring reruns on logged raw rows (loading the pyfunc model would also import MLflow's
    loader and unpickle the estimator, with the libraries it needs). `build` is None when the
    raw rows are the model inputs; `estimator_sha256` names the artefact."""

    inputs: list[str]
    build: Any
    estimator_sha256: str

    def model_inputs(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The model inputs this code builds from raw rows (those it builds, in order), as
        `KeelModel.predict_with_inputs` builds them."""
        built = raw if self.build is None else self.build(raw.copy())
        return built[[c for c in self.inputs if c in built.columns]]


def load_feature_code(folder: Path) -> FeatureCode:
    """The feature code of the model saved in `folder` (`save_model`'s `model` folder),
    imported from the model's own copy of the code as `KeelModel.load_context` imports it."""
    meta = json.loads((folder / "artifacts" / META).read_text(encoding="utf-8"))
    code = folder / "code"
    with own_imports(code if code.is_dir() else None):
        build = _feature_function(meta)
    return FeatureCode([*meta["inputs"]], build, str(meta["estimator_sha256"]))


def unloadable(what: str, model: str, source: str, exc: BaseException) -> Exception:
    """The `RegistryError` for a version's artefact that cannot be loaded (`what`: "version 3"
    or "the feature code of version 3"): missing or corrupt, with the loader's first line."""
    from keel.errors import RegistryError

    first = str(exc).splitlines()[0] if str(exc) else ""
    return RegistryError(
        f"{what} of '{model}' cannot be loaded from {source}: {type(exc).__name__}: {first}. "
        "The artefact is missing or corrupt; register a new version with `keel train`"
    )
