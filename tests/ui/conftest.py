"""The team view's fixtures: a database on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import pytest
from postgres import postgres  # noqa: F401  (the session fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An empty database's URL: SQLite in a scratch folder, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ui.db'}"
    return request.getfixturevalue("postgres").database()


@pytest.fixture
def engine(db_url):
    """An engine on a migrated, empty database (SQLite, then PostgreSQL)."""
    from keel.ui.db import open_engine
    from keel.ui.migrate import upgrade

    engine = open_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A running `keel ui` (SQLite, then PostgreSQL) with an admin token as `server.admin`."""
    from ui_server import UiServer

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'ui.db'}"
    else:
        url = request.getfixturevalue("postgres").database()
    started = UiServer(url).start()
    started.admin = started.token("admin", "admin")
    yield started
    started.stop()
