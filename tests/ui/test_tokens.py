import pytest
from sqlalchemy import select

from keel.errors import KeelError
from keel.ui import tokens
from keel.ui.db import open_engine
from keel.ui.migrate import upgrade


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'ui.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_token_is_stored_only_as_its_sha256_and_checks_with_its_role(engine):
    secret = tokens.create(engine, "ci", "publish")
    assert secret.startswith("keel_") and len(secret) > 40
    with engine.connect() as c:
        stored = c.execute(select(tokens.tokens.c.hash)).scalar()
    assert stored == tokens.digest(secret) and secret not in stored
    found = tokens.check(engine, secret)
    assert found is not None and found.role == "publish" and found.name == "ci"
    assert found.may("publish") and not found.may("read") and not found.may("admin")


def test_a_wrong_or_revoked_token_does_not_check(engine):
    secret = tokens.create(engine, "reader", "read")
    assert tokens.check(engine, secret + "x") is None
    assert tokens.check(engine, "") is None and tokens.check(engine, None) is None
    assert tokens.revoke(engine, "reader") is True
    assert tokens.check(engine, secret) is None
    assert tokens.revoke(engine, "reader") is False


def test_admin_may_do_everything(engine):
    found = tokens.check(engine, tokens.create(engine, "root", "admin"))
    assert all(found.may(a) for a in ("publish", "read", "admin"))


def test_bad_roles_taken_names_and_unknown_tokens_are_errors(engine):
    with pytest.raises(KeelError, match="--role 'owner'"):
        tokens.create(engine, "x", "owner")
    tokens.create(engine, "x", "read")
    with pytest.raises(KeelError, match="a token of that name exists"):
        tokens.create(engine, "x", "admin")
    with pytest.raises(KeelError, match="no token named 'y'"):
        tokens.revoke(engine, "y")
