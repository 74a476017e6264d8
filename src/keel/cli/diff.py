"""`keel diff BASE.json HEAD.json`: what changed between two runs of `keel score`.

Plain text on standard output for CI logs; `--markdown FILE` also writes the pull-request
comment. Exit 0, or 1 with `--fail-on-new-failures` when a practice that held (pass or
attested) now fails or errs; 2 on a report that cannot be read or reports of two systems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keel.cli._app import command, err


@command()
def diff(
    base: Annotated[Path, typer.Argument(help="report.json of the base run (e.g. main).")],
    head: Annotated[Path, typer.Argument(help="report.json of the head run (e.g. the PR).")],
    markdown: Annotated[
        Path | None, typer.Option(help="Also write the comparison as Markdown (a PR comment).")
    ] = None,
    report_url: Annotated[
        str | None, typer.Option(help="Link to the head run's HTML report in the Markdown.")
    ] = None,
    base_name: Annotated[
        str, typer.Option(help="What to call the base run in the Markdown, e.g. main.")
    ] = "",
    fail_on_new_failures: Annotated[
        bool,
        typer.Option(
            "--fail-on-new-failures",
            help="Exit 1 when a practice went from pass/attested to fail/error.",
        ),
    ] = False,
) -> None:
    """Compare two report.json files of one system: score, sections, changed practices."""
    from keel.atomic import write_text_atomic
    from keel.report.diff import compare, load_report, render_text
    from keel.report.markdown import render_markdown

    found = compare(load_report(base), load_report(head))
    typer.echo(render_text(found), nl=False)
    if markdown is not None:
        text = render_markdown(found, report_url=report_url, base_name=base_name)
        markdown.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(markdown, text)
    if fail_on_new_failures and found.new_failures:
        ids = ", ".join(c.id for c in found.new_failures)
        err.print(f"new failures: {ids}", highlight=False)
        raise typer.Exit(1)
