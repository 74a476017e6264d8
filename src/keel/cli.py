"""The `keel` command: a thin layer over library calls.

Every command turns a `KeelError` into its message on standard error and exit status 2 (with
the user's own traceback when their code raised), and Ctrl-C into "interrupted" and exit 130.
`keel score` exits 1 when the score is under `--min-score` (a CI gate), else 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from keel.cli_explain import register as register_explain
from keel.errors import KeelError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    help="Keel: the ML Test Score of your ML system, automated, with evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
register_explain(app)
out = Console()
err = Console(stderr=True)


def _user_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeelError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            trace = getattr(exc, "user_traceback", "")
            if trace:
                err.print(escape(trace), highlight=False, soft_wrap=True, style="dim")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted: nothing was written", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _ids(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
@_user_errors
def score(
    path: Annotated[Path, typer.Argument(help="keel.toml, or the folder that holds it.")] = Path(
        "."
    ),
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


@app.command()
@_user_errors
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


schema_app = typer.Typer(help="Infer a schema from data, or validate data against one.")
pii_app = typer.Typer(help="Find personal data in a data set.")
app.add_typer(schema_app, name="schema")
app.add_typer(pii_app, name="pii")


@app.command()
@_user_errors
def profile(
    data: Annotated[
        list[str],
        typer.Argument(help="DATA (a Parquet/CSV path or glob), or: merge PROFILE PROFILE …"),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the profile.")],
    batch_size: Annotated[int, typer.Option(help="Rows per streamed batch.")] = 65_536,
) -> None:
    """Profile DATA (`keel profile DATA -o p.json`); merge with `keel profile merge A B -o C`."""
    import time

    from keel.data.commands import profile_path
    from keel.data.profile import read_profile, write_profile

    start = time.perf_counter()
    if data[0] == "merge":
        if len(data) < 3:
            raise KeelError("keel profile merge: expected two or more profiles: merge A B -o C")
        merged = read_profile(data[1])
        for other in data[2:]:
            merged = merged.merge(read_profile(other))
        result = merged
    elif len(data) == 1:
        with err.status(f"profiling {data[0]}"):
            result = profile_path(data[0], batch_size=batch_size)
    else:
        raise KeelError(
            f"keel profile: expected one DATA path or glob, got {len(data)}: quote a glob"
        )
    write_profile(result, output)
    took = time.perf_counter() - start
    out.print(
        f"wrote {output}: {result.rows:,} rows, {len(result.columns)} columns in {took:.2f} s",
        highlight=False,
    )


def _roles(config: Path | None) -> dict[str, Any]:
    """target, id and sensitive columns from keel.toml (--config, else here, if there is one)."""
    from keel.config import load_config
    from keel.errors import ConfigError

    try:
        cfg, _ = load_config(config or Path.cwd())
    except ConfigError:
        if config is not None:
            raise
        return {}
    return {"target": cfg.system.target, "id": cfg.system.id, "sensitive": cfg.fairness.sensitive}


def _schema_file() -> Path:
    """The schema file the keel.toml here names."""
    from keel.config import load_config

    cfg, file = load_config(Path.cwd())
    return file.parent / cfg.data.schema_file


@schema_app.command("infer")
@_user_errors
def schema_infer(
    data: Annotated[str, typer.Argument(help="Parquet or CSV path or glob.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the schema YAML.")
    ] = Path("keel.schema.yaml"),
    config: Annotated[
        Path | None, typer.Option(help="keel.toml for the target, id and sensitive columns.")
    ] = None,
) -> None:
    """Infer a conservative schema from DATA, to review and check in."""
    from keel.data.commands import profile_path, scan_path
    from keel.data.schema import infer, write_schema

    with err.status(f"profiling {data}"):
        schema = infer(profile_path(data), pii=scan_path(data), **_roles(config))
        review = [f.column for f in scan_path(data) if not getattr(f, "confirmed", True)]
    write_schema(schema, output)
    flagged = [n for n, f in schema.features.items() if f.pii != "none"]
    out.print(f"wrote {output}: {len(schema.features)} features", highlight=False)
    if flagged:
        out.print(f"PII found, marked pii: redact for review: {', '.join(flagged)}")
    if review:
        out.print(
            f"named like personal data, but the values do not look like it (not marked; "
            f"review): {', '.join(review)}"
        )
    out.print("Review domains, presence, PII handling and owners, then commit it.")


@schema_app.command("validate")
@_user_errors
def schema_validate(
    data: Annotated[str, typer.Argument(help="Parquet or CSV path or glob.")],
    schema: Annotated[
        Path | None, typer.Option(help="Schema YAML (default: the one keel.toml names).")
    ] = None,
    environment: Annotated[
        str, typer.Option(help="training or serving: the label and id may be absent in serving.")
    ] = "training",
) -> None:
    """Validate DATA against the schema: exit 0 when it conforms, 1 on anomalies, 2 on bad input."""
    from rich.table import Table

    from keel.data.commands import validate_path
    from keel.data.schema import load_schema

    if environment not in ("training", "serving"):
        raise KeelError(f"--environment {environment!r}: expected training or serving")
    path = schema if schema is not None else _schema_file()
    loaded = load_schema(path)
    anomalies = validate_path(data, loaded, environment=environment)
    if not anomalies:
        out.print(f"{data} conforms to {path} ({len(loaded.features)} features)", highlight=False)
        return
    table = Table("column", "anomaly", "count", "detail", title=f"{len(anomalies)} anomalies")
    for a in anomalies:
        table.add_row(a.column, a.kind, str(a.count), escape(a.message))
    out.print(table)
    raise typer.Exit(1)


@pii_app.command("scan")
@_user_errors
def pii_scan(data: Annotated[str, typer.Argument(help="Parquet or CSV path or glob.")]) -> None:
    """Report columns holding personal data: kind, share of values, a masked example."""
    from rich.table import Table

    from keel.data.commands import scan_path

    findings = scan_path(data)
    if not findings:
        out.print(f"no personal data found in {data}", highlight=False)
        return
    table = Table("column", "kind", "share", "matches", "masked example")
    for f in findings:
        table.add_row(f.column, f.kind, f"{f.share:.1%}", str(f.matches), escape(f.example))
    out.print(table)


@app.command()
def rubric() -> None:
    """List the 28 practices of the ML Test Score and what Keel automates for each."""
    from rich.table import Table

    from keel.rubric import PRACTICES

    table = Table("id", "practice", "automated check", "in this version")
    for p in PRACTICES:
        table.add_row(p.id, p.title, p.automated, "attest" if p.check is None else "yes")
    out.print(table)


from keel.cli_registry import register as _add_registry_commands  # noqa: E402

_add_registry_commands(app)


def main() -> None:
    """Entry point of the `keel` console script."""
    app()
