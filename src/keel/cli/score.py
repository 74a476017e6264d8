"""`keel score` (run the checks, print the score, write the reports) and `keel rubric`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from keel.cli._app import PathArg, comma_list, command, err, out, progress_bar
from keel.cli._publish import PublishOpt, TokenOpt, publish_run
from keel.cli._threads import limits_threads
from keel.errors import KeelError


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
    markdown: Annotated[
        Path | None,
        typer.Option(help="Also write a short Markdown summary here (for a PR comment)."),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(help="report.json of a base run: the Markdown shows the change from it."),
    ] = None,
    report_url: Annotated[
        str | None,
        typer.Option(help="Link to the HTML report in the Markdown (default: its relative path)."),
    ] = None,
    base_name: Annotated[
        str, typer.Option(help="What to call the base run in the Markdown, e.g. main.")
    ] = "",
    publish: PublishOpt = None,
    token: TokenOpt = None,
) -> None:
    """Run every check on the system, print the score and write the reports."""
    from keel.checks.runner import run, select
    from keel.report import write_reports
    from keel.report.terminal import render_terminal
    from keel.rubric import BY_ID
    from keel.system import System

    select(comma_list(only), section)  # bad ids fail before any work
    base_run = _base_run(base, markdown)  # read before this run may overwrite the file
    system = System.from_path(path, use_cache=not no_cache, deep=deep)
    with progress_bar("checks") as update:

        def progress(practice: str, done: int, total: int) -> None:
            titles = {"preflight": "reading the data, training the model", "done": "finished"}
            title = BY_ID[practice].title if practice in BY_ID else titles.get(practice, "")
            update(f"{practice} {title}", done, total)

        result = run(system, only=comma_list(only), section=section, progress=progress, record=True)
    render_terminal(result, out)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    paths = write_reports(result, out_dir or system.keel_dir)
    if markdown is not None:
        paths["markdown"] = _write_markdown(
            markdown, result, base_run, paths["html"], report_url, base_name
        )
    for kind, p in paths.items():
        out.print(f"[dim]{kind}:[/] {p}", highlight=False)
    if publish:
        from keel.report.json_report import to_json_dict

        about = system.config.system
        publish_run(
            to_json_dict(result), "score", system.keel_dir, publish, token,
            team=about.team, owner=about.owner,
        )  # fmt: skip
    limit = min_score if min_score is not None else system.config.score.min_score
    if limit is not None and result.score.final < limit:
        err.print(f"score {result.score.final:g} is below the minimum {limit:g}")
        raise typer.Exit(1)


def _base_run(base: Path | None, markdown: Path | None) -> Any:
    """The base run of `--base` (a `keel.report.diff.ScoredRun`), read now; None without."""
    if base is None:
        return None
    if markdown is None:
        raise KeelError("--base BASE.json compares in the Markdown summary: give --markdown FILE")
    from keel.report.diff import load_report

    return load_report(base)


def _write_markdown(
    file: Path, result: Any, base_run: Any, html: Path, report_url: str | None, base_name: str
) -> Path:
    """Write the run's Markdown summary (its change from `base_run`) to `file`."""
    from keel.atomic import write_text_atomic
    from keel.report.diff import compare, run_of
    from keel.report.markdown import render_markdown

    head = run_of(result, source=str(html.with_name("report.json")))
    link = report_url or os.path.relpath(html.resolve(), file.resolve().parent)
    text = render_markdown(compare(base_run, head), report_url=link, base_name=base_name)
    file.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(file, text)


@command()
def rubric() -> None:
    """List the 28 practices of the ML Test Score and what Keel automates for each."""
    from rich.table import Table

    from keel.rubric import PRACTICES

    table = Table("id", "practice", "automated check", "in this version")
    for p in PRACTICES:
        table.add_row(p.id, p.title, p.automated, "attest" if p.check is None else "yes")
    out.print(table)
