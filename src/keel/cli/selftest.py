"""`keel selftest`: plant faults on scratch copies of the system and report, per practice,
whether its check caught them. Exit 0 when every planted fault was caught, 1 when a check is
weak on this system (a fault missed, a check that errored, a clean run that does not pass),
2 on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli._app import PathArg, comma_list, command, out, progress_bar

FIGURE_CHARS = 120  # of a check's summary in the table
VERDICT_STYLE = {
    "caught": "green",
    "missed": "bold red",
    "errored": "bold red",
    "not proven": "yellow",
    "not applicable": "dim",
}


def _figure(run: object) -> str:
    if run is None:
        return ""
    status, summary = getattr(run, "status", ""), getattr(run, "summary", "")
    shown = summary if len(summary) <= FIGURE_CHARS else summary[: FIGURE_CHARS - 1] + "…"
    return f"{status}: {shown}"  # in full in --json and .keel/selftest.json


@command()
def selftest(
    path: PathArg = Path("."),
    only: Annotated[
        str | None,
        typer.Option(help="Comma-separated practices or fault ids, e.g. data.2,model.6."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    jobs: Annotated[int, typer.Option(help="Processes that run faults in parallel.")] = 2,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the scratch copies (their folder is printed).")
    ] = False,
) -> None:
    """Prove each check on this system: plant a fault of its practice's kind on a scratch
    copy, run the check, report caught or missed."""
    from keel.selftest import run_selftest
    from keel.selftest.runner import select_faults

    ids = comma_list(only)
    select_faults(ids)  # bad ids fail before any work
    with progress_bar("selftest") as update:

        def progress(what: str, done: int, total: int) -> None:
            update(what, done, total or None)

        result = run_selftest(path, only=ids, jobs=jobs, progress=progress, keep=keep)
    if as_json:
        print(result.to_json())
    else:
        table = Table(title=f"keel selftest: {escape(result.system)}", show_lines=True)
        for name in ("practice", "fault", "caught?", "clean", "faulty", "reason"):
            table.add_column(name, overflow="fold")
        for f in result.faults:
            style = VERDICT_STYLE.get(f.verdict, "")
            table.add_row(
                f.practice,
                escape(f.fault),
                f"[{style}]{f.verdict}[/]",
                escape(_figure(f.clean)),
                escape(_figure(f.faulty)),
                escape(f.reason if f.verdict != "caught" else ""),
            )
        out.print(table)
        caught = sum(f.verdict == "caught" for f in result.faults)
        out.print(
            f"{caught} of {len(result.faults)} planted faults caught, {len(result.weak)} weak, "
            f"in {result.duration_s:.0f} s ({result.jobs} processes); "
            f"written to {escape(str(Path(result.root) / '.keel' / 'selftest.json'))}",
            highlight=False,
        )
        if result.scratch:
            out.print(f"scratch copies kept in {escape(result.scratch)}", highlight=False)
    if result.weak:
        raise typer.Exit(1)
