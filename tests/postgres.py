"""A real PostgreSQL server from Debian's packages, in a scratch folder on 127.0.0.1.

`PostgresServer` runs `initdb` and `pg_ctl` from /usr/lib/postgresql/<version>/bin (the
`postgresql` package) on a free loopback port, with trust authentication for the local user
`postgres` and nothing listening outside 127.0.0.1. initdb refuses to run as root, so as root
the server runs as the `postgres` system user (`runuser`), which owns the scratch folder.
`database()` creates a fresh database and returns its SQLAlchemy URL.

The `postgres` fixture (one server per test session) skips only when the binaries are absent,
and fails instead when the CI environment variable is set: CI installs the package.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN_ROOT = Path("/usr/lib/postgresql")


def binaries() -> Path | None:
    """The newest installed PostgreSQL bin folder holding initdb and pg_ctl, or None."""
    found = sorted(
        (p for p in BIN_ROOT.glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in a scratch folder; `start()`, `database()`, `stop()`."""

    def __init__(self, bin_dir: Path, *, fast: bool = False) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="keel-pg-"))
        self.data = self.folder / "data"
        self.fast = fast  # no fsync: for benchmarks, whose data is thrown away

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c max_connections=200"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            self.bin / "pg_ctl", "-D", self.data, "-l", self.folder / "log", "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database's SQLAlchemy URL."""
        import psycopg

        name = "keel_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the PostgreSQL test may not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session, or a skip when its binaries are absent (a failure
    under CI)."""
    bin_dir = binaries()
    if bin_dir is None:
        unavailable(f"no PostgreSQL under {BIN_ROOT}: apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is missing: pip install -e '.[dev]'")
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()
