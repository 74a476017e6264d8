"""The registry commands of `keel`: train, promote, rollback, and `keel registry …`.

    keel train [PATH] [--staleness-limit]  train, then register a model version (exit 1 when
                                           the staleness limit asked for was not stored)
    keel registry list [PATH]              every version, newest first
    keel registry show VERSION [PATH]      lineage, metrics, verdict and aliases of a version
    keel registry history [PATH]           every promotion, refusal and rollback, newest first
    keel promote VERSION [PATH]            through the gate: exit 0 promoted, 1 refused
    keel promote VERSION --force --reason  despite the gate; the reason is recorded
    keel rollback [PATH] [--to VERSION]    back to the previous champion

MLflow is imported only when a command runs, so
`keel --help` stays fast. A `KeelError` (an unreachable registry, an unknown version, a
rollback with no earlier champion, a corrupt artefact) exits 2 with its message.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli._app import PathArg, command, err, group, out
from keel.cli._threads import limits_threads

if TYPE_CHECKING:
    from keel.registry.gate import Verdict
    from keel.registry.ref import RegistryRef
    from keel.registry.versions import ModelVersion

VersionArg = Annotated[str, typer.Argument(help="A version number (3 or v3) or an alias.")]
Who = Annotated[
    str | None, typer.Option(help="Who is doing this, for the record (default: your login).")
]

versions = group("registry", "Registered model versions and their history.")


def _print(*items: Any) -> None:
    for item in items:
        out.print(item, highlight=False, soft_wrap=not isinstance(item, Table))


def _number(value: float | None) -> str:
    return (
        "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
    )


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _system(path: Path, **options: Any) -> Any:
    from keel.system import System

    return System.from_path(path, **options)


def _registry(path: Path) -> RegistryRef:
    from keel.training import registry_ref

    return registry_ref(_system(path))


@command("train")
@limits_threads
def train(
    path: PathArg = Path("."),
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Retrain instead of reusing the cached model.")
    ] = False,
    staleness_limit: Annotated[
        bool,
        typer.Option(
            "--staleness-limit",
            help="Also run model.4's staleness sweep (a model per older window of the data) "
            "and store the age limit with the version.",
        ),
    ] = False,
) -> None:
    """Train the system's model and register it as a new version, with its lineage."""
    from keel.training import train_and_register

    system = _system(path, use_cache=not no_cache)
    try:
        with err.status("training and registering"):
            version = train_and_register(system, staleness_limit=staleness_limit)
    except KeyboardInterrupt:
        err.print(
            "interrupted: the training run was ended as KILLED, its artefacts and temporary "
            "folder removed; no version was registered",
            highlight=False,
        )
        raise typer.Exit(130) from None
    primary = system.metric_name
    _print(
        f"registered {version.name} version {version.version}: {primary} "
        f"{_number(version.metrics.get(primary))} on the evaluation data",
        f"[dim]commit {version.lineage.get('git_commit') or 'none'}, trained in "
        f"{version.lineage.get('train_seconds', 0):.2f} s; artefact {escape(version.source)}[/]",
        _staleness_line(version.lineage.get("staleness_limit_days"), asked=staleness_limit),
        f"Promote it through the gate with `keel promote {version.version}`.",
    )
    if staleness_limit and version.lineage.get("staleness_limit_days") is None:
        err.print(
            f"[red]error[/]: model.4's staleness limit was NOT stored with version "
            f"{version.version}, though --staleness-limit asked for it: "
            f"{escape(_staleness_missing(system))}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _staleness_missing(system: Any) -> str:
    """Why model.4's staleness sweep gave no limit for `system` (read from the cached curve
    the training just computed), and what to do about it."""
    from keel.checks._measure_model import staleness_curve
    from keel.errors import KeelError

    if system.config.system.timestamp is None:
        return (
            "keel.toml has no [system] timestamp, so the data has no age to measure; set it to "
            "the event-time column"
        )
    try:
        found = staleness_curve(system)
    except KeelError as exc:
        return str(exc)
    if found.stopped:
        return (
            f"{found.stopped}. Raise [staleness] max_seconds, train on a less loaded machine, "
            "or run `keel score --deep --only model.4`"
        )
    return found.problem or "the staleness curve gave no limit (`keel score --only model.4`)"


def _staleness_line(days: float | None, *, asked: bool) -> str:
    if not asked:
        return (
            "[dim]model.4's staleness limit was not computed: `keel train --staleness-limit` "
            "runs its sweep and stores the limit with the version[/]"
        )
    if days is None:
        return "[red]model.4's staleness limit is unknown: none was stored with the version[/]"
    return f"[dim]model.4's staleness limit: {days:g} days, stored with the version[/]"


@command("list", under=versions)
def list_versions(path: PathArg = Path(".")) -> None:
    """List every registered version of the model, newest first."""
    from keel.registry.versions import list_versions as versions
    from keel.training import registry_ref

    system = _system(path)
    found = versions(registry_ref(system))
    if not found:
        _print("no versions registered yet; `keel train` registers one")
        return
    primary = system.metric_name
    table = Table(
        "version", "created (UTC)", "aliases", primary, "gate", "commit", title=found[0].name
    )
    for v in found:
        gate = "—" if v.verdict is None else _gate_state(v.verdict, forced="forced")
        commit = (v.lineage.get("git_commit") or "—")[:10]
        table.add_row(
            str(v.version),
            _when(v.created_at),
            ", ".join(v.aliases),
            _number(v.metrics.get(primary)),
            gate,
            commit,
        )
    _print(table)


def _gate_state(verdict: dict[str, Any], *, forced: str) -> str:
    """What the gate said: passed, refused, `forced`, or "no gate" when it had no rule to
    check (a promotion without [gate] thresholds passed nothing)."""
    if verdict.get("forced"):
        return forced
    if not any(verdict.get("thresholds", {}).values()):
        return "no gate"
    return "passed" if verdict["passed"] else "refused"


def _verdict_table(verdict: dict[str, Any] | Verdict, title: str) -> Table:
    data = verdict if isinstance(verdict, dict) else verdict.to_dict()
    floors, drops = data["thresholds"]["min"], data["thresholds"]["max_regression"]
    champion = data["champion"]
    table = Table(
        "metric",
        f"version {data['version']}",
        "champion" if champion is None else f"champion (v{champion})",
        "floor",
        "max drop",
        title=title,
    )
    for name, value in data["metrics"].items():
        table.add_row(
            name,
            _number(value),
            _number(data["champion_metrics"].get(name)),
            "—" if name not in floors else f"{floors[name]:g}",
            "—" if name not in drops else f"{drops[name]:g}",
        )
    return table


def _verdict_lines(data: dict[str, Any]) -> list[str]:
    lines = [f"[red]✗[/] {escape(f)}" for f in data["failures"]]
    lines += [f"[dim]note: {escape(n)}[/]" for n in data["notes"]]
    lines.append(f"[dim]judged by {escape(data['who'])} at {data['when']}[/]")
    if data.get("reason"):
        lines.append(f"[dim]reason: {escape(data['reason'])}[/]")
    return lines


@command("show", under=versions)
def show(version: VersionArg, path: PathArg = Path(".")) -> None:
    """Show one version: aliases, lineage, metrics and the gate's latest verdict."""
    from keel.registry.versions import get_version

    v: ModelVersion = get_version(_registry(path), version)
    lineage = v.lineage
    facts = Table("", "", show_header=False, box=None, title=f"{v.name} version {v.version}")
    facts.add_row("aliases", ", ".join(v.aliases) or "—")
    facts.add_row("created", v.created_at)
    facts.add_row("artefact", escape(v.source))
    for key in ("git_commit", "config_sha256", "code_hash", "train_entry", "features_entry"):
        facts.add_row(key, escape(str(lineage.get(key) or "—")))
    facts.add_row("params", escape(str(lineage.get("params"))))
    facts.add_row("seed", str(lineage.get("seed")))
    for split, d in lineage.get("data", {}).items():
        facts.add_row(
            f"{split} data",
            escape(
                f"{d['source']}: {d['rows']} rows, schema {d['schema_hash'][:12]}, "
                f"content {d['content_hash'][:12]}"
            ),
        )
    facts.add_row("train seconds", str(lineage.get("train_seconds")))
    facts.add_row("peak memory MiB", str(lineage.get("peak_memory_mb")))
    facts.add_row("requirements", escape(", ".join(lineage.get("requirements", []))))
    metrics = Table("metric", "value", title="metrics on the evaluation data")
    for name, value in sorted(v.metrics.items()):
        if name not in ("train_seconds", "peak_memory_mb"):  # shown with the lineage
            metrics.add_row(escape(name), _number(value))
    _print(facts, metrics)
    if v.verdict is None:
        _print("no gate verdict yet: `keel promote` judges it")
        return
    state = _gate_state(v.verdict, forced="forced past the gate")
    _print(_verdict_table(v.verdict, f"gate verdict: {state}"), *_verdict_lines(v.verdict))


@command("history", under=versions)
def history(path: PathArg = Path(".")) -> None:
    """List every promotion, refused promotion and rollback, newest first."""
    from keel.registry.audit import history as events_of

    events = events_of(_registry(path))
    if not events:
        _print("no promotions or rollbacks yet")
        return
    table = Table("#", "when (UTC)", "event", "version", "champion", "who", "why")
    for e in events:
        before = "—" if e.previous is None else str(e.previous)
        after = "—" if e.champion is None else str(e.champion)
        why = e.reason or "; ".join((e.verdict or {}).get("failures", [])) or ""
        table.add_row(
            str(e.seq),
            _when(e.when),
            e.kind,
            str(e.version),
            f"{before} → {after}",
            e.who,
            escape(why),
        )
    _print(table)


@command("promote")
def promote(
    version: VersionArg,
    path: PathArg = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate refuses (needs --reason).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why the gate is overridden; recorded with the verdict.")
    ] = None,
    who: Who = None,
) -> None:
    """Make VERSION the champion if the gate passes it: exit 0 promoted, 1 refused."""
    from keel.registry.promotion import promote as run_gate
    from keel.training import gate_inputs, registry_ref

    system = _system(path)
    with err.status(f"judging version {version}"):
        judged = gate_inputs(system)
        verdict = run_gate(
            registry_ref(system), version, judged, force=force, reason=reason, who=who
        )
    data = verdict.to_dict()
    if verdict.passed:
        title = f"version {verdict.version} passed the gate"
    elif verdict.forced:
        title = f"version {verdict.version} failed the gate; promoted by --force"
    else:
        title = f"version {verdict.version} refused by the gate"
    _print(_verdict_table(data, title), *_verdict_lines(data))
    if not verdict.promoted:
        _print("The verdict is recorded on the version. To override: --force --reason TEXT")
        raise typer.Exit(1)
    _print(f"champion is now version {verdict.version} (was {verdict.champion or 'none'})")


@command("rollback")
def rollback(
    path: PathArg = Path("."),
    to: Annotated[
        str | None, typer.Option(help="An earlier champion to return to (default: the previous).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    who: Who = None,
) -> None:
    """Move the champion back to the previous champion (or --to an earlier one)."""
    from keel.registry.promotion import rollback as roll_back

    event = roll_back(_registry(path), to=to, who=who, reason=reason)
    _print(
        f"champion is now version {event.champion} (was {event.previous}); "
        f"recorded as event {event.seq} by {escape(event.who)}"
    )
