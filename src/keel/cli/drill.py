"""`keel drill rollback [PATH] [--url URL]`: rehearse a rollback under load (infra.7).

    keel drill rollback [PATH]            starts its own `keel serve PATH` on a free loopback
                                          port, drills against it, and stops it
    keel drill rollback [PATH] --url URL  drills against a server already running at URL

keel.toml gives the registry, `[drill]` (concurrency, load_seconds, max_seconds), the gate the
champion is restored through (as `keel promote` builds it) and the serving rows: evaluation
rows with the target dropped. The result is recorded in the registry's audit history; the
command exits 1 when the drill failed (failed requests, too slow a switch, another version
answering after it, registry and server disagreeing at the end) or the champion could not be
restored. A rollback that failed and was not restored is undone: the registry goes back to the
champion the drill started from.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli._app import PathArg, command, err, group, out

if TYPE_CHECKING:
    from keel.serve.drill import DrillResult

drill = group("drill", "Rehearsals of what an incident needs: `keel drill rollback`.")

SERVING_ROWS = 300


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def result_table(result: DrillResult) -> Table:
    """The drill's result: versions, switch time, requests, failed, restored."""
    table = Table("", "", show_header=False, box=None, title=f"rollback drill against {result.url}")
    rollback = result.phases[0]
    table.add_row("rolled back", f"version {result.from_version} → {result.to_version}")
    table.add_row(
        "switch time",
        f"{_seconds(result.switch_seconds)} (limit {result.max_seconds:g} s; the registry call "
        f"took {_seconds(rollback.command_seconds)})"
        + ("" if result.settled else "; never settled"),
    )
    table.add_row(
        "requests",
        f"{result.requests} from {result.concurrency} clients over {_seconds(result.seconds)}",
    )
    late = f" ({result.late} answered late by the version a switch left)" if result.late else ""
    table.add_row("failed", f"{result.failed}{late}")
    if result.restored:
        restore = result.phases[1]
        restored = (
            f"yes: version {result.to_version} → {result.from_version} through the gate, "
            f"switched in {_seconds(restore.switch_seconds)} ({restore.failed} failed)"
        )
    else:
        restored = f"no: {result.restore_reason}"
    table.add_row("restored", escape(restored))
    agree = "yes" if result.agreed else "[red]no[/]"
    table.add_row(
        "registry and server",
        f"{agree}: champion version {result.champion} in the registry, version "
        f"{result.server_champion} on the server",
    )
    return table


@command("rollback", under=drill)
def rollback_drill(
    path: PathArg = Path("."),
    url: Annotated[
        str | None,
        typer.Option(help="Drill against the server running at URL instead of starting one."),
    ] = None,
    who: Annotated[
        str | None, typer.Option(help="Who is doing this, for the record (default: your login).")
    ] = None,
) -> None:
    """Roll the champion back under load, measure the switch and failed requests, restore it
    through the gate, and record the result (infra.7): exit 0 passed, 1 failed."""
    from keel.registry.drill import drill_versions
    from keel.serve.drill import rollback_drill as run
    from keel.serve.process import LOOPBACK, free_port, json_rows, launch
    from keel.system import System
    from keel.training import gate_inputs, registry_ref

    system = System.from_path(path)
    config = system.config.drill
    ref = registry_ref(system)
    current, earlier = drill_versions(ref)  # no champion, no earlier one: say so before work
    with err.status("reading the evaluation rows and the gate"):
        gate = gate_inputs(system)
        rows = json_rows(gate.frame.drop(columns=[system.target]).head(SERVING_ROWS))
    server = None
    if url is None:
        port = free_port()
        url = f"http://{LOOPBACK}:{port}"
        argv = [sys.executable, "-m", "keel", "serve", str(system.root), "--port", str(port)]
        with err.status(f"starting `keel serve` on {url}"):
            server = launch(argv, url=url, cwd=system.root)
    try:
        with err.status(f"drilling: version {current} back to {earlier}") as status:

            def progress(message: str) -> None:
                err.print(f"[dim]{escape(message)}[/]", highlight=False)
                status.update(f"drilling: {escape(message)}")

            result = run(
                ref,
                url,
                rows,
                concurrency=config.concurrency,
                load_seconds=config.load_seconds,
                max_seconds=config.max_seconds,
                gate=gate,
                who=who,
                progress=progress,
            )
    finally:
        if server is not None:
            with err.status("stopping the server"):
                server.stop()
    out.print(result_table(result))
    for line in verdict_lines(result):
        out.print(line, highlight=False, soft_wrap=True)
    if not (result.passed and result.restored):
        raise typer.Exit(1)


def verdict_lines(result: DrillResult) -> list[str]:
    """What the drill shows, in words: passed or why not, and the restore."""
    lines = []
    if result.passed:
        lines.append(
            f"[green]passed[/]: version {result.to_version} served every request "
            f"{result.switch_seconds:.2f} s after the rollback began (limit "
            f"{result.max_seconds:g} s), with no failed request"
        )
    else:
        why = []
        if result.failed:
            why.append(f"{result.failed} failed request(s)")
        if not result.settled:
            why.append(f"version {result.to_version} never alone served every client")
        elif result.switch_seconds > result.max_seconds:
            why.append(
                f"the switch took {result.switch_seconds:.2f} s (limit {result.max_seconds:g} s)"
            )
        if result.unnamed:
            why.append(f"{result.unnamed} answer(s) named no version")
        if result.stray:
            why.append(f"{result.stray} answer(s) after the switch by another version")
        if not result.agreed:
            why.append(
                f"the registry names version {result.champion} champion but the server serves "
                f"version {result.server_champion}"
            )
        detail = f" ({'; '.join(result.errors)})" if result.errors else ""
        lines.append(f"[red]failed[/]: {escape('; '.join(why) + detail)}")
    if result.undone:
        lines.append(f"[yellow]undone[/]: {escape(result.undone)}")
    if result.restored:
        lines.append(f"version {result.from_version} is champion again (through the gate)")
    else:
        lines.append(
            f"[red]not restored[/]: {escape(result.restore_reason or '')}; version "
            f"{result.champion} is champion now"
        )
    lines.append(
        "[dim]recorded in the audit history (`keel registry history`); infra.7 reads it[/]"
    )
    return lines
