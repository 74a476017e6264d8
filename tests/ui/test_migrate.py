import pytest
from sqlalchemy import inspect

from keel.ui.db import open_engine
from keel.ui.migrate import current, head, upgrade


def test_upgrade_from_empty_creates_every_table_then_a_second_start_is_a_no_op(db_url):
    engine = open_engine(db_url)
    assert current(engine) is None
    assert upgrade(engine) == ["0001"]
    assert current(engine) == head() == "0001"
    tables = set(inspect(engine).get_table_names())
    assert {"systems", "reports", "practice_results", "tokens", "alembic_version"} <= tables
    indexes = {i["name"] for i in inspect(engine).get_indexes("practice_results")}
    assert "ix_practice_results_report_practice" in indexes
    assert upgrade(engine) == []
    assert current(engine) == "0001"
    engine.dispose()


def test_the_default_database_is_sqlite_under_dot_keel(tmp_path):
    from keel.ui.db import default_url

    url = default_url(tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve() / '.keel' / 'ui.db'}"
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    assert (tmp_path / ".keel" / "ui.db").exists()


def test_an_unknown_database_url_is_an_error_naming_it():
    import pytest

    from keel.errors import KeelError

    with pytest.raises(KeelError, match=r"--db mysql://u:\*\*\*@h/db: expected sqlite"):
        open_engine("mysql://u:secret@h/db")


def test_a_database_that_cannot_be_reached_is_named_without_a_traceback(tmp_path):
    from keel.errors import KeelError
    from keel.ui.db import open_engine

    engine = open_engine("postgresql+psycopg://keel:secret@127.0.0.1:1/nothing")
    with pytest.raises(KeelError, match=r"--db postgresql\+psycopg://keel:\*\*\*@127.0.0.1:1"):
        upgrade(engine)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(KeelError, match="cannot make the database's folder"):
        open_engine(f"sqlite:///{tmp_path}/file/sub/ui.db")
