"""`keel ui`: the team view's server, its tokens, and sending what publishing left queued.

    keel ui [--db URL] [--data-dir DIR] [--host H] [--port P]   serve the team view (the
                                         database migrated to the newest schema first)
    keel ui token create --role publish|read|admin --name N    print a new token (once)
    keel ui token revoke --name N / keel ui token list
    keel ui publish-pending [PATH] --url URL [--token T]       send the outbox of PATH's system

The database is `--db` (sqlite:///PATH or postgresql+psycopg://…), else .keel/ui.db under
`--data-dir` (default: here). Tokens come from `--token` or KEEL_UI_TOKEN.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from keel.cli._app import PathArg, app, command, err, out, user_errors

ui = typer.Typer(
    help="The team view: every published system's score, trend and evidence (keel ui).",
    invoke_without_command=True,
)
app.add_typer(ui, name="ui")
token_group = typer.Typer(help="Access tokens of the team view.", no_args_is_help=True)
ui.add_typer(token_group, name="token")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB.", show_default=False
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where .keel/ui.db is kept without --db (default: here)."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="A token of role publish (default: $KEEL_UI_TOKEN).", show_default=False
    ),
]


def _url(db: str | None, data_dir: Path | None) -> str:
    from keel.ui.db import default_url

    return db or default_url(data_dir)


@ui.callback()
@user_errors
def serve_ui(
    ctx: typer.Context,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8800,
) -> None:
    """Serve the team view (the database migrated to the newest schema first)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from keel.ui.app import create_app

    application = create_app(_url(db, data_dir))
    out.print(f"keel ui: http://{host}:{port}/ (Ctrl-C stops it)", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning")


@contextmanager
def _migrated(db: str | None, data_dir: Path | None) -> Iterator[Any]:
    """The team view's database engine, migrated to the newest schema; disposed on leaving."""
    from keel.ui.db import open_engine
    from keel.ui.migrate import upgrade

    engine = open_engine(_url(db, data_dir))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@command("create", under=token_group)
def token_create(
    role: Annotated[str, typer.Option(help="publish (CI), read, or admin.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. ci-credit.")],
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a token and print it: it is shown only now (only its hash is stored)."""
    from keel.ui import tokens

    with _migrated(db, data_dir) as engine:
        secret = tokens.create(engine, name, role)
    err.print(f"token {escape(name)!r} ({role}); shown once, keep it secret:", highlight=False)
    out.print(secret, highlight=False)


@command("revoke", under=token_group)
def token_revoke(
    name: Annotated[str, typer.Option(help="The token's name.")],
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke a token: every request with it gets 401 from now on."""
    from keel.ui import tokens

    with _migrated(db, data_dir) as engine:
        revoked = tokens.revoke(engine, name)
    out.print(f"token {escape(name)!r} " + ("revoked" if revoked else "was already revoked"))


@command("list", under=token_group)
def token_list(db: DbOpt = None, data_dir: DataDirOpt = None) -> None:
    """The tokens: name, role, created, revoked (never the secrets)."""
    from rich.table import Table

    from keel.ui import tokens

    table = Table("name", "role", "created", "revoked")
    with _migrated(db, data_dir) as engine:
        for t in tokens.listed(engine):
            table.add_row(escape(t.name), t.role, t.created_at[:19], (t.revoked_at or "")[:19])
    out.print(table)


@command("publish-pending", under=ui)
def publish_pending(
    path: PathArg = Path("."),
    url: Annotated[str, typer.Option(help="The team view, e.g. http://127.0.0.1:8800.")] = "",
    token: TokenOpt = None,
) -> None:
    """Send the reports `--publish` queued while the team view could not take them."""
    from keel.config import find_config
    from keel.errors import KeelError
    from keel.ui.publish import publish_pending as send

    if not url:
        raise KeelError("--url: give the team view's address, e.g. http://127.0.0.1:8800")
    outbox = find_config(path).parent / ".keel" / "outbox"
    outcome = send(url, token or os.environ.get("KEEL_UI_TOKEN"), outbox)
    for line in outcome.lines or [f"publish: nothing waits in {outbox}"]:
        out.print(escape(line), highlight=False, soft_wrap=True)
    if outcome.queued or outcome.refused:
        raise typer.Exit(1)
