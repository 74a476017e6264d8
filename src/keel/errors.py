"""Keel's exceptions.

    KeelError                 anything Keel reports to a user as a message, never a traceback
    ├── ConfigError           keel.toml (or a file it names) is invalid
    ├── DataError             a data source cannot be read or holds the wrong thing
    ├── RegistryError         the model registry cannot do what was asked (nothing changed)
    └── CheckError            a check could not run (becomes `error` evidence)
        └── UserCodeError     the user's own code raised; carries their traceback

The CLI turns any KeelError into its message and exit status 2.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class KeelError(Exception):
    """An error whose message is meant for the user as it is."""


class ConfigError(KeelError):
    """keel.toml, or something it points at, is not what Keel expects."""


class DataError(KeelError):
    """A data source is missing, unreadable, or does not hold what the configuration says."""


class RegistryError(KeelError):
    """The model registry cannot do what was asked; nothing in it was changed."""


class CheckError(KeelError):
    """A check could not run to completion."""


class UserCodeError(CheckError):
    """The user's feature or training code raised; `user_traceback` shows their files and lines."""

    def __init__(self, message: str, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


def user_traceback(exc: BaseException, root: Path) -> str:
    """The frames of a traceback that lie in the user's files (under `root`), with the error.

    Frames of Keel, the standard library and installed packages are left out; when none of
    the user's own frames remain, the innermost frame is shown so the reader still sees where.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    root = root.resolve()
    mine = [
        f
        for f in frames
        if Path(f.filename).resolve().is_relative_to(root)
        and not any(part in (".venv", "site-packages") for part in Path(f.filename).parts)
    ]
    shown = mine or frames[-1:]
    lines = ["Traceback (your code, innermost last):"]
    lines += traceback.format_list(shown)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip()


def interrupted(exc: BaseException) -> bool:
    """Whether `exc` is Ctrl-C: a KeyboardInterrupt, or DuckDB's own form of it (DuckDB takes
    the SIGINT during a query and raises `RuntimeError: Query interrupted`), so a command
    stops with exit 130 rather than a traceback."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    return type(exc) is RuntimeError and str(exc).strip() == "Query interrupted"
