"""`keel explain ROW_ID [PATH] [--json]`: how one example becomes its prediction.

The work is `keel.explain.explain` (the System's side of `keel.model.explain`); this module
only prints it: a Rich view for people, plain JSON with `--json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keel.cli._app import PathArg, command
from keel.errors import KeelError

BAR_WIDTH = 20


@command("explain")
def explain(
    row_id: Annotated[
        str,
        typer.Argument(
            help="A value of the [system] id column, or '#N' for position N of the evaluation "
            "data (quote it: '#12')."
        ),
    ],
    path: PathArg = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print plain JSON instead.")] = False,
) -> None:
    """Show how one example becomes its prediction, stage by stage, with contributions.

    Raw values, model inputs, each pipeline stage's output, each input's contribution, and the
    check that baseline plus contributions give the model's output (exit 1 when they do not).
    """
    from keel.explain import explain as explain_row
    from keel.system import System

    err = Console(stderr=True)
    try:
        system = System.from_path(path)
        found = explain_row(system, row_id)
    except KeelError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2, allow_nan=False))
    else:
        _render(found, Console())
    if not found.adds_up:
        raise typer.Exit(1)


def _show(value: Any) -> str:
    if value is None:
        return "[dim]missing[/]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return escape(str(value))


def _values(title: str, values: dict[str, Any]) -> Table:
    table = Table("column", "value", title=title, title_justify="left")
    for name, value in values.items():
        table.add_row(escape(name), _show(value))
    return table


def _bar(value: float, largest: float) -> str:
    width = round(BAR_WIDTH * abs(value) / largest) if largest > 0 else 0
    return f"[green]{'█' * width}[/]" if value >= 0 else f"[red]{'█' * width}[/]"


def _render(found: Any, out: Console) -> None:
    where = "evaluation" if found.split == "eval" else "training"
    out.print(
        f"[bold]Row {escape(found.row_id)}[/] ({where} data, position {found.position})",
        highlight=False,
    )
    prediction = f"prediction {_show(found.prediction)}"
    if found.probability is not None:
        prediction += f" (probability {found.probability:.4g})"
    out.print(f"{found.model}: {prediction}", highlight=False)
    out.print(_values("1. Raw values", found.raw))
    out.print(_values("2. Model inputs (the feature function's output)", found.inputs))
    for i, stage in enumerate(found.stages, start=3):
        out.print(_values(f"{i}. Pipeline step {stage.name} ({stage.transformer})", stage.values))
    largest = max((abs(c.contribution) for c in found.contributions), default=0.0)
    derived = any(c.features != [c.input] for c in found.contributions)
    estimated = any(c.error is not None for c in found.contributions)
    columns = ["input", "value", "contribution"] + (["± standard error"] if estimated else [])
    columns += [""] + (["transformed features"] if derived else [])
    table = Table(
        *columns,
        title=f"Contributions to the {found.output_name} ({found.method})",
        title_justify="left",
    )
    for c in found.contributions:
        cells = [escape(c.input), _show(c.value), f"{c.contribution:+.6g}"]
        if estimated:
            cells.append("" if c.error is None else f"{c.error:.2g}")
        cells.append(_bar(c.contribution, largest))
        table.add_row(*cells, *([escape(", ".join(c.features))] if derived else []))
    out.print(table)
    mark = "[green]adds up[/]" if found.adds_up else "[bold red]does NOT add up[/]"
    out.print(
        f"baseline {found.baseline:.6g} + Σ contributions {found.total - found.baseline:+.6g} "
        f"= {found.total:.6g}; the model's {escape(found.output_name)} is {found.output:.6g}: "
        f"difference {found.difference:.2g}, {mark} (tolerance {found.tolerance:g})",
        highlight=False,
        soft_wrap=True,
    )
    if found.mapped_back:
        out.print(escape(found.mapped_back), highlight=False, soft_wrap=True)
