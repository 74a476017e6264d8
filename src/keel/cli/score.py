"""`keel score` (run the checks, print the score, write the reports) and `keel rubric`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from keel.cli._app import PathArg, command, err, out
from keel.cli._threads import limits_threads


def _ids(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@command()
@limits_threads
def score(
    path: PathArg = Path("."),
    only: Annotated[
        str | None, typer.Option(help="Comma-separated practice ids to run, e.g. data.1,model.5.")
    ] = None,
    section: Annotated[
        str | None, typer.Option(help="Run one section: data, model, infra or monitor.")
    ] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Exit 1 when the final score is below this (CI gate).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where to write the reports (default: .keel/).")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Retrain and recompute instead of reusing.")
    ] = False,
    deep: Annotated[
        bool, typer.Option("--deep", help="Also run costly variants (leave-one-feature-out).")
    ] = False,
) -> None:
    """Run every check on the system, print the score and write the reports."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from keel.checks.runner import run, select
    from keel.report import write_reports
    from keel.report.terminal import render_terminal
    from keel.rubric import BY_ID
    from keel.system import System

    select(_ids(only), section)  # bad ids fail before any work
    system = System.from_path(path, use_cache=not no_cache, deep=deep)
    with Progress(
        TextColumn("[bold]{task.description:<60}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("checks", total=None)

        def progress(practice: str, done: int, total: int) -> None:
            titles = {"preflight": "reading the data, training the model", "done": "finished"}
            title = BY_ID[practice].title if practice in BY_ID else titles.get(practice, "")
            bar.update(task, description=f"{practice} {title}"[:60], completed=done, total=total)

        result = run(system, only=_ids(only), section=section, progress=progress, record=True)
    render_terminal(result, out)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    paths = write_reports(result, out_dir or system.keel_dir)
    for kind, p in paths.items():
        out.print(f"[dim]{kind}:[/] {p}", highlight=False)
    limit = min_score if min_score is not None else system.config.score.min_score
    if limit is not None and result.score.final < limit:
        err.print(f"score {result.score.final:g} is below the minimum {limit:g}")
        raise typer.Exit(1)


@command()
def rubric() -> None:
    """List the 28 practices of the ML Test Score and what Keel automates for each."""
    from rich.table import Table

    from keel.rubric import PRACTICES

    table = Table("id", "practice", "automated check", "in this version")
    for p in PRACTICES:
        table.add_row(p.id, p.title, p.automated, "attest" if p.check is None else "yes")
    out.print(table)
