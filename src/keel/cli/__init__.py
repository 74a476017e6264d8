"""The `keel` command: a thin layer over library calls.

One module per family of commands (`score`, `diff`, `validate`, `init`, `data`, `explain`,
`registry`, `serve`, `ingest`, `logs`, `drill`, `selftest`, `ui`), each adding its commands to
the app of `keel.cli._app` with `command`.
`keel score` exits 1 when the score is under `--min-score` (a CI gate); every command exits 2
on a `KeelError` and 130 on Ctrl-C. Libraries are imported inside the commands, so
`keel --help` stays fast.
"""

from __future__ import annotations

import importlib

from keel.cli._app import app

# The command modules, in the order `keel --help` lists their commands: importing one adds them.
COMMANDS = (
    "score",
    "diff",
    "validate",
    "init",
    "data",
    "explain",
    "registry",
    "bench",
    "serve",
    "ingest",
    "canary",
    "drill",
    "monitor",
    "logs",
    "selftest",
    "ui",
)
for _module in COMMANDS:
    importlib.import_module(f"keel.cli.{_module}")


def main() -> None:
    """Entry point of the `keel` console script."""
    app()


__all__ = ["COMMANDS", "app", "main"]
