"""`keel validate [PATH ...]`: keel.toml and its schema checked without data or training.

The command of the `keel-validate` pre-commit hook. Exit 0 when every system is valid, 1 when
any has a problem (each printed naming its file and key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from keel.cli._app import command, err, out


@command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="keel.toml files, their folders, or files inside a system (default: here).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check keel.toml, the functions it names and its schema: exit 1 on any problem."""
    from keel.validate import config_files, validate

    files, problems = config_files(paths or [Path(".")])
    for problem in problems:
        err.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    failed = bool(problems)
    for file in files:
        found = validate(file)
        name = f" ({found.system})" if found.system else ""
        if found.ok:
            out.print(f"{escape(str(file))}{escape(name)}: valid", highlight=False, soft_wrap=True)
        for note in found.notes:
            out.print(f"  [dim]{escape(note)}[/]", highlight=False, soft_wrap=True)
        for problem in found.problems:
            err.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        failed = failed or not found.ok
    if failed:
        raise typer.Exit(1)
