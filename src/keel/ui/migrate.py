"""The team view's schema migrations, run through Alembic without an alembic.ini.

The revisions live in `migrations/versions/` inside this package, and `migrations/env.py`
takes the connection handed to it here. `upgrade(engine)` brings a database (empty or older)
to the newest revision, as `keel ui` does on every start; on a database already there it
changes nothing. Alembic keeps the current revision in its own `alembic_version` table, so
PostgreSQL and SQLite are migrated the same way.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from keel.errors import KeelError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision this Keel ships."""
    return str(ScriptDirectory.from_config(_config()).get_current_head())


def current(engine: Engine) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> list[str]:
    """Apply every revision the database lacks, in one transaction; return the revisions
    applied, oldest first (empty when it was already at head). KeelError naming the database
    when it cannot be reached or written (a server that is down, a wrong password, a folder
    without write access)."""
    try:
        return _upgrade(engine)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        where = engine.url.render_as_string(hide_password=True)
        raise KeelError(f"--db {where}: cannot open the team view's database: {first}") from None


def _upgrade(engine: Engine) -> list[str]:
    before = current(engine)
    if before == head():
        return []
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    script = ScriptDirectory.from_config(config)
    return [
        str(rev.revision)
        for rev in reversed(list(script.iterate_revisions("head", before or "base")))
    ]
