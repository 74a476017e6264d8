"""`keel validate`: is keel.toml valid, and the schema it names, without reading data or training?

Fast enough for a pre-commit hook: it parses keel.toml (every key checked, as `keel score` does),
imports the training and feature functions it names (the modules' own top level runs, nothing
else), and reads the schema file when there is one. Every problem is a message naming the file
and key, as `keel score` would say it. A missing schema is a note, not a problem: the system is
valid, data.1 just fails until one is checked in.

`config_files` turns the paths a user or pre-commit gives (keel.toml files, their folders, or
any file inside a system) into the keel.toml files to validate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from keel.errors import KeelError

CONFIG_NAME = "keel.toml"


@dataclass
class Validation:
    """What `validate` found for one keel.toml: problems (invalid) and notes (valid anyway)."""

    config_file: Path
    system: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def config_files(
    paths: Iterable[str | Path], *, stop: Path | None = None
) -> tuple[list[Path], list[str]]:
    """The keel.toml files the paths name, in order without repeats, and the problems of paths
    that should name one and do not.

    A folder must hold a keel.toml and a `.toml` file must exist; any other file stands for
    the nearest keel.toml in its folder or above it, up to `stop` (default: the working folder),
    and is passed over when there is none (pre-commit hands over every changed file)."""
    stop = (stop or Path.cwd()).resolve()
    found: dict[Path, None] = {}
    problems = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            candidate = path / CONFIG_NAME
            if candidate.is_file():
                found[candidate.resolve()] = None
            else:
                problems.append(f"{path}: no {CONFIG_NAME} here")
        elif path.suffix == ".toml":
            if path.is_file():
                found[path.resolve()] = None
            else:
                problems.append(f"{path}: no such file")
        elif not path.exists():
            problems.append(f"{path}: no such file or folder")
        else:
            nearest = _nearest_config(path.resolve().parent, stop)
            if nearest is not None:
                found[nearest] = None
    return list(found), problems


def _nearest_config(folder: Path, stop: Path) -> Path | None:
    for parent in (folder, *folder.parents):
        if (parent / CONFIG_NAME).is_file():
            return parent / CONFIG_NAME
        if parent == stop:
            return None
    return None


def validate(config_file: Path) -> Validation:
    """Validate one keel.toml, the entry points it names and its schema file."""
    from keel.config import load_config
    from keel.data.schema import load_schema
    from keel.system import System

    found = Validation(config_file)
    try:
        config, file = load_config(config_file)
    except KeelError as exc:
        found.problems.append(str(exc))
        return found
    found.system = config.system.name
    system = System(config, file.parent, config_file=file, use_cache=False)
    for entry in ("train_function", "features_function"):
        try:
            getattr(system, entry)
        except KeelError as exc:
            found.problems.append(str(exc))
    schema = file.parent / config.data.schema_file
    if schema.is_file():
        try:
            loaded = load_schema(schema)
            found.notes.append(f"{schema.name}: {len(loaded.features)} features")
        except KeelError as exc:
            found.problems.append(str(exc))
    else:
        found.notes.append(
            f"no schema file {config.data.schema_file}: data.1 fails until one is checked in "
            "(`keel schema infer DATA -o " + config.data.schema_file + "`)"
        )
    return found
