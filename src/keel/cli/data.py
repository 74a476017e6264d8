"""The data commands: `keel profile`, `keel schema infer|validate`, `keel pii scan`.

They take explicit paths; keel.toml is read here (the target, id and sensitive columns for
`schema infer`, the schema file for `schema validate`), never by the data layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from keel.cli._app import EngineOpt, MasterOpt, command, err, group, out
from keel.errors import KeelError

schema = group(
    "schema", "Infer a schema from data, or validate data against one.", no_args_is_help=False
)
pii = group("pii", "Find personal data in a data set.", no_args_is_help=False)


def _spark(engine: str | None, master: str | None) -> Any:
    """Spark settings from --engine/--master over keel.toml's [engine] here; None: local."""
    from keel.config import load_config
    from keel.engine import spark_settings
    from keel.errors import ConfigError

    section = None
    if (Path.cwd() / "keel.toml").is_file():
        try:
            section = load_config(Path.cwd())[0].engine
        except ConfigError:
            if engine is None:
                raise
    return spark_settings(section, kind=engine, master=master)


class _Partitions:
    """A Rich progress bar of Spark partitions done, shown while a Spark job runs."""

    def __init__(self, what: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn(f"[bold]{what}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} partitions"),
            console=err,
            transient=True,
        )
        self.task = self.bar.add_task(what, total=None)

    def __enter__(self) -> _Partitions:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)


@command()
def profile(
    data: Annotated[
        list[str],
        typer.Argument(help="DATA (a Parquet/CSV path or glob), or: merge PROFILE PROFILE …"),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the profile.")],
    batch_size: Annotated[int, typer.Option(help="Rows per streamed batch.")] = 65_536,
    engine: EngineOpt = None,
    master: MasterOpt = None,
) -> None:
    """Profile DATA (`keel profile DATA -o p.json`); merge with `keel profile merge A B -o C`.

    With `--engine spark`, DATA is Parquet (a path, glob or folder, local or on any
    Hadoop-compatible store) or a table (`table:db.name`), profiled per partition on Spark.
    """
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
        spark = _spark(engine, master)
        if spark is None:
            with err.status(f"profiling {data[0]}"):
                result = profile_path(data[0], batch_size=batch_size)
        else:
            with _Partitions(f"profiling {data[0]} on Spark") as progress:
                result = profile_path(data[0], spark=spark, progress=progress)
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
    return {
        "target": cfg.system.target,
        "id": cfg.system.id,
        "sensitive": cfg.fairness.sensitive,
        "encoding": cfg.data.encoding,
    }


def _schema_file() -> Path:
    """The schema file the keel.toml here names."""
    from keel.config import load_config

    cfg, file = load_config(Path.cwd())
    return file.parent / cfg.data.schema_file


@command("infer", under=schema)
def schema_infer(
    data: Annotated[str, typer.Argument(help="Parquet or CSV path or glob.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the schema YAML.")
    ] = Path("keel.schema.yaml"),
    config: Annotated[
        Path | None, typer.Option(help="keel.toml for the target, id and sensitive columns.")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding of CSV data (default: [data] encoding, else utf-8)."),
    ] = None,
) -> None:
    """Infer a conservative schema from DATA, to review and check in."""
    import codecs

    from keel.data.commands import decoded_path, profile_path, scan_path
    from keel.data.schema import infer, write_schema

    roles = _roles(config)
    encoding = encoding or roles.pop("encoding", None) or "utf-8"
    roles.pop("encoding", None)
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        raise KeelError(
            f"--encoding {encoding!r}: unknown text encoding; expected a Python codec name such "
            "as utf-8, latin-1 or cp1252"
        ) from None
    with err.status(f"profiling {data}"):
        if utf8:
            profile, findings = profile_path(data), scan_path(data)
        else:
            profile, findings = decoded_path(data, encoding)
        schema = infer(profile, pii=findings, **roles)
        review = [f.column for f in findings if not getattr(f, "confirmed", True)]
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


@command("validate", under=schema)
def schema_validate(
    data: Annotated[str, typer.Argument(help="Parquet or CSV path or glob.")],
    schema: Annotated[
        Path | None, typer.Option(help="Schema YAML (default: the one keel.toml names).")
    ] = None,
    environment: Annotated[
        str, typer.Option(help="training or serving: the label and id may be absent in serving.")
    ] = "training",
    engine: EngineOpt = None,
    master: MasterOpt = None,
) -> None:
    """Validate DATA against the schema: exit 0 when it conforms, 1 on anomalies, 2 on bad input."""
    from rich.table import Table

    from keel.data.commands import validate_path
    from keel.data.schema import load_schema

    if environment not in ("training", "serving"):
        raise KeelError(f"--environment {environment!r}: expected training or serving")
    path = schema if schema is not None else _schema_file()
    loaded = load_schema(path)
    spark = _spark(engine, master)
    if spark is None:
        anomalies = validate_path(data, loaded, environment=environment)
    else:
        with _Partitions(f"validating {data} on Spark") as progress:
            anomalies = validate_path(
                data, loaded, environment=environment, spark=spark, progress=progress
            )
    if not anomalies:
        out.print(f"{data} conforms to {path} ({len(loaded.features)} features)", highlight=False)
        return
    table = Table("column", "anomaly", "count", "detail", title=f"{len(anomalies)} anomalies")
    for a in anomalies:
        table.add_row(a.column, a.kind, str(a.count), escape(a.message))
    out.print(table)
    raise typer.Exit(1)


@command("scan", under=pii)
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
