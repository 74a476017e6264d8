"""`keel monitor` and `keel alerts`: served traffic judged, and who was told.

    keel monitor [PATH] [--every 10m] [--html FILE]  take the new prediction-log rows (exactly
                 [--engine spark] [--master URL]     once, here or on Spark), run monitor.1–7
                                                     and model.2, send an alert per failing
                                                     cause and window
    keel alerts [PATH] [--limit N]                   the alert history, newest first

`keel monitor` exits 1 when a monitor check fails (a cron job or CI sees it), 0 otherwise.
With `--every` it runs until stopped (Ctrl-C), once per period.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli._app import EngineOpt, MasterOpt, PathArg, command, err, out
from keel.cli._publish import PublishOpt, TokenOpt, publish_run
from keel.cli._threads import limits_threads

if TYPE_CHECKING:
    from keel.evidence import RunResult

from keel.rubric import MONITORING as MONITOR_PRACTICES


def monitor_practices() -> list[str]:
    """The monitoring practices this version checks (those with an automated check)."""
    from keel.rubric import BY_ID

    return [p for p in MONITOR_PRACTICES if BY_ID[p].check is not None]


def alerts_of(result: RunResult, window: str, system: str) -> list[Any]:
    """One alert per cause of each failing monitoring check (facts["cause"]: one cause, or a
    list of them, e.g. monitor.3's "drift:income" and "skew:payment_to_income"; the status
    when it names none) and the newest window; a check that judged several windows names
    each failing window's causes (facts["alerts"]: [{"window", "cause"}]), one alert each."""
    from keel.monitor.alerts import Alert

    alerts = []
    for e in result.evidence:
        if e.practice in MONITOR_PRACTICES and e.status in ("fail", "error"):
            per_window = e.facts.get("alerts")
            if isinstance(per_window, list) and per_window:
                for a in per_window:
                    alerts.append(
                        Alert(e.practice, str(a["cause"]), str(a["window"]), e.summary, system)
                    )
                continue
            named = e.facts.get("cause")
            causes = [str(c) for c in named] if isinstance(named, list | tuple) else [named]
            for cause in [c for c in causes if c] or [e.status]:
                alerts.append(Alert(e.practice, str(cause), window, e.summary, system))
    return alerts


def run_monitor(
    path: Path,
    *,
    html: Path | None = None,
    engine: str | None = None,
    master: str | None = None,
) -> tuple[RunResult, list[Any], int]:
    """One monitoring pass over the system at `path`: (the result, the deliveries made, the
    served rows taken this pass); the log taken on `engine` (default: keel.toml's)."""
    from rich.progress import BarColumn, Progress, TextColumn

    from keel.checks._monitor_state import monitor_state, state_dir
    from keel.checks.runner import run
    from keel.monitor.alerts import AlertSettings, send_alerts
    from keel.report.json_report import write_json
    from keel.system import System

    system = System.from_path(path)
    with Progress(
        TextColumn("[bold]{task.description:<44}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("reading the prediction log", total=None)

        def taken(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        state = monitor_state(system, progress=taken, engine=engine, master=master)
        bar.update(task, description="running the monitoring checks", completed=0, total=None)
        result = run(system, only=monitor_practices())
    imported = state.imported
    for line in [*(imported.warnings if imported is not None else []), *state.run.damaged]:
        err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if imported is not None:
        out.print(
            f"took {imported.records:,} new {state.source_format} records from "
            f"{escape(system.config.serving.source or '')} into the prediction log",
            highlight=False,
        )
    folder = state_dir(system)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(result, folder / "report.json")
    window = max((w for w, _ in state.windows), default="no-window")
    a = system.config.alerts
    settings = AlertSettings(tuple(a.webhooks), a.format, a.retries, a.timeout_seconds)
    deliveries = send_alerts(
        alerts_of(result, window, system.name), settings, folder / "alerts.jsonl"
    )
    from keel.report.dashboard import write_dashboard

    page = write_dashboard(result, state.windows, folder / "dashboard.html")  # `/dashboard`
    if html is not None and Path(html).resolve() != page.resolve():
        write_dashboard(result, state.windows, html)
    return result, deliveries, state.run.rows


def _show(result: RunResult, deliveries: list[Any], rows: int) -> bool:
    """Print the monitoring verdicts; True when one failed."""
    table = Table(title=f"monitoring ({rows:,} served rows taken this run)")
    for name in ("practice", "status", "summary"):
        table.add_column(name, overflow="fold")
    failed = False
    for e in result.evidence:
        if e.practice not in MONITOR_PRACTICES or e.status == "left_out":
            continue
        failed |= e.status in ("fail", "error")
        colour = {"pass": "green", "fail": "red", "error": "red"}.get(e.status, "yellow")
        table.add_row(e.practice, f"[{colour}]{e.status}[/]", escape(e.summary))
    out.print(table)
    for d in deliveries:
        outcome = (
            "delivered"
            if d.delivered
            else "; ".join(f"{u}: {r}" for u, r in d.results.items())
            or "recorded (no [alerts] webhooks)"
        )
        out.print(escape(f"alert {d.alert.practice} ({d.alert.cause}): {outcome}"), highlight=False)
    return failed


@command("monitor")
@limits_threads
def monitor(
    path: PathArg = Path("."),
    every: Annotated[
        str | None, typer.Option(help="Run once per period until stopped, e.g. 10m, 1h.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the monitoring dashboard to this HTML file.")
    ] = None,
    engine: EngineOpt = None,
    master: MasterOpt = None,
    publish: PublishOpt = None,
    token: TokenOpt = None,
) -> None:
    """Judge what was served: skew, drift, staleness, stability, performance and quality."""
    from keel.durations import parse_duration
    from keel.errors import ConfigError

    period = None
    if every is not None:
        try:
            period = parse_duration(every)
        except ValueError as exc:
            raise ConfigError(f"--every: {exc}") from None
    while True:
        result, deliveries, rows = run_monitor(path, html=html, engine=engine, master=master)
        failed = _show(result, deliveries, rows)
        if publish:
            from keel.config import load_config
            from keel.report.json_report import to_json_dict

            config, file = load_config(path)
            publish_run(
                to_json_dict(result), "monitor", file.parent / ".keel", publish, token,
                team=config.system.team, owner=config.system.owner,
            )  # fmt: skip
        if html is not None:
            out.print(f"[dim]dashboard:[/] {html}", highlight=False)
        if period is None:
            if failed:
                raise typer.Exit(1)
            return
        time.sleep(period)


@command("alerts")
def alerts(
    path: PathArg = Path("."),
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1)] = 20,
) -> None:
    """The alerts `keel monitor` sent (or could not send), newest first."""
    from keel.checks._monitor_state import state_dir
    from keel.monitor.alerts import read_history
    from keel.system import System

    history = read_history(state_dir(System.from_path(path)) / "alerts.jsonl")
    if not history:
        out.print("no alerts yet")
        return
    table = Table("when", "practice", "window", "cause", "delivered", "summary")
    for entry in reversed(history[-limit:]):
        table.add_row(
            entry["when"],
            entry["practice"],
            entry["window"][:16],
            entry["cause"],
            "yes" if entry.get("delivered") else ("—" if not entry.get("results") else "no"),
            escape(entry["summary"]),
        )
    out.print(table)
