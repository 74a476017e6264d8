"""The files that specify a system's model, as model.1 checks them in git: keel.toml and the
training and feature code, less the entry points that are Keel's own."""

from __future__ import annotations

import sys
from pathlib import Path

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
