"""The team view's tables, as SQLAlchemy Core, and opening its database by URL.

    systems          one row per system name: its team and owner (from the newest publish),
                     and the ids of its newest score and monitor reports, so the overview
                     reads one row per system instead of searching every report
    reports          one row per published run: kind (score | monitor), commit, registry
                     version, when it ran and was received, final score, band, the four section
                     scores, the failing practices, the champion and canary seen by the run,
                     and the full report.json (zlib-compressed, read only for a run's page)
    practice_results one row per practice of each report: status, summary and hint; indexed
                     for "who fails monitor.3 today" (by report) and a system's history
    tokens           access tokens, by the SHA-256 of the secret (never the secret), with
                     role, name, creation and revocation time

SQLite is the embedded default (`sqlite:///.keel/ui.db`); PostgreSQL (`postgresql+psycopg://`)
serves a team. The schema is created and changed only by the Alembic migrations
(`keel.ui.migrate`); this module describes it for the queries.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)

from keel.errors import KeelError

metadata = MetaData()

systems = Table(
    "systems",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("team", String(200)),
    Column("owner", String(200)),
    Column("latest_score_id", Integer),
    Column("latest_monitor_id", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("system_id", Integer, ForeignKey("systems.id"), nullable=False),
    Column("publish_id", String(64), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),
    Column("commit", String(64)),
    Column("registry_version", Integer),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("run_at", DateTime(timezone=True), nullable=False),
    Column("final", Float),
    Column("band", String(40), nullable=False),
    Column("data", Float),
    Column("model", Float),
    Column("infra", Float),
    Column("monitor", Float),
    Column("failing", Text, nullable=False),  # failing or erring practice ids, comma-separated
    Column("canary", String(40)),  # infra.6's last canary event, e.g. canary-pass
    Column("canary_at", String(40)),
    Column("keel_version", String(40), nullable=False),
    Column("body", LargeBinary, nullable=False),  # zlib(report.json)
    Index("ix_reports_system_kind_run", "system_id", "kind", "run_at"),
)

practice_results = Table(
    "practice_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_id", Integer, ForeignKey("reports.id"), nullable=False),
    Column("system_id", Integer, ForeignKey("systems.id"), nullable=False),
    Column("practice", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("summary", Text, nullable=False),
    Column("hint", Text, nullable=False),
    Column("run_at", DateTime(timezone=True), nullable=False),
    Index("ix_practice_results_report_practice", "report_id", "practice"),
    Index("ix_practice_results_system_practice_run", "system_id", "practice", "run_at"),
    Index("ix_practice_results_practice_status", "practice", "status"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(10), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

SECTION_COLUMNS = ("data", "model", "infra", "monitor")


def default_url(data_dir: Path | str | None = None) -> str:
    """SQLite at `.keel/ui.db` under `data_dir` (default: the current folder)."""
    folder = Path(data_dir or ".").resolve() / ".keel"
    return f"sqlite:///{folder / 'ui.db'}"


def open_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///PATH or postgresql+psycopg://...); KeelError naming the
    URL when it is not one the team view can use. SQLite's folder is created."""
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:///")
        if path and path != url and not path.startswith(":memory:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise KeelError(
                    f"--db {url}: cannot make the database's folder {Path(path).parent}: "
                    f"{exc.strerror or exc}"
                ) from None
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith(("postgresql+psycopg:", "postgresql:")):
        if url.startswith("postgresql:"):
            url = "postgresql+psycopg:" + url.removeprefix("postgresql:")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise KeelError(
                f"--db {_safe(url)}: PostgreSQL needs psycopg: pip install 'keel[ui-postgres]'"
            ) from None
        return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    raise KeelError(
        f"--db {_safe(url)}: expected sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
    )


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _safe(url: str) -> str:
    """The URL with any password hidden, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        rest = f"{user}:***@{rest.split('@', 1)[1]}"
    return scheme + sep + rest


def utc_now() -> dt.datetime:
    """Now, in UTC (aware)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as aware UTC (SQLite gives them back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
