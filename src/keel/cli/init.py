"""`keel init`: a commented keel.toml for the user's data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keel.cli._app import command, out


@command()
def init(
    data: Annotated[Path, typer.Option(help="A Parquet or CSV file of your training data.")],
    target: Annotated[
        str | None, typer.Option(help="The label column (guessed when not given).")
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write keel.toml (default: here).")
    ] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing keel.toml.")] = False,
) -> None:
    """Write a commented keel.toml for your data, with the target, id and timestamp guessed."""
    from keel.init import write_config

    path, guess = write_config(data, directory=directory, target=target, force=force)
    out.print(f"wrote {path} (and .keel/ in .gitignore)", highlight=False)
    for line in guess.notes():
        out.print(f"  {line}", highlight=False)
    out.print("Next:")
    out.print(f"  keel schema infer {data} -o {path.parent / 'keel.schema.yaml'}", highlight=False)
    out.print("  review the schema (domains, PII handling), then: keel score", highlight=False)
