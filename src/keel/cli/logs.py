"""`keel logs query "SQL" [PATH]`: SQL over what `keel serve` logged.

The log folder is `[data] serving_log` of the keel.toml at PATH (relative to that file; a URL's
new segments are first copied into a local mirror, `keel.log.remote`); closed
segments are rolled into Parquet first (a damaged record is skipped, its bytes kept in
`segments/quarantine/`, and a warning names the segment and the records lost), then the SQL
runs through DuckDB over the view
`predictions` (one row per served row, with `date` and `model_version` from the partitions),
`rejected` (the rows the server refused for a schema problem, with their anomalies) or
`records` (both). The views also hold the complete records of segments a running server is
still writing (read, not rolled: `keel.log.read.query_live`), so a row is seen as soon as it
is logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli._app import command, err, group, out

logs = group("logs", "Query the prediction log written by `keel serve`.")


@command("query", under=logs)
def query_command(
    sql: Annotated[
        str, typer.Argument(help="SQL over the views `predictions`, `rejected`, `records`.")
    ],
    path: Annotated[Path, typer.Argument(help="The project folder (with keel.toml).")] = Path(),
    limit: Annotated[int, typer.Option(help="Show at most this many rows.")] = 100,
) -> None:
    """Roll closed log segments into Parquet, then run SQL over `predictions` (open segments
    included)."""
    from keel.checks._foreign import take_foreign_log
    from keel.config import load_config
    from keel.errors import interrupted
    from keel.log.read import query_live
    from keel.log.remote import local_log_root, shown, take_remote
    from keel.log.rollup import roll
    from keel.log.writer import rolled_dir, segments_dir

    cfg, file = load_config(path)
    root = local_log_root(file.parent, cfg.data.serving_log)
    fetched = take_remote(file.parent, cfg.data.serving_log)  # a URL: new segments mirrored
    if fetched is not None and fetched.objects:
        err.print(
            f"fetched {fetched.objects:,} new segments from {shown(cfg.data.serving_log)}",
            highlight=False,
        )
    imported = take_foreign_log(cfg, file.parent, root)
    if imported is not None:
        for line in imported.warnings:
            err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
        err.print(
            f"took {imported.records:,} new {cfg.serving.format} records from "
            f"{escape(cfg.serving.source or '')}",
            highlight=False,
        )
    try:
        rolled = roll(segments_dir(root), rolled_dir(root))
    except (KeyboardInterrupt, RuntimeError) as exc:
        if not interrupted(exc):  # DuckDB's Ctrl-C is a RuntimeError; any other is a bug
            raise
        err.print(
            "interrupted: the roll-up stopped, nothing half-written; run again to finish it",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    for line in rolled.warnings():
        err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if rolled.rows:
        err.print(f"rolled {rolled.rows:,} records into {rolled_dir(root)}", highlight=False)
    result = query_live(sql, root)
    table = Table(*(escape(name) for name in result.column_names))
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*("" if v is None else escape(str(v)) for v in row.values()))
    out.print(table)
    if result.num_rows > limit:
        out.print(f"{result.num_rows:,} rows, {limit:,} shown (--limit)", highlight=False)
