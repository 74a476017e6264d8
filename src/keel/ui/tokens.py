"""Access tokens of the team view: created once, stored hashed, checked on every request.

A token is `keel_` followed by 32 random bytes (URL-safe base64). Only its SHA-256 is stored:
the secret is shown once, when it is created. A 256-bit random secret needs no slow hash (no
dictionary to guess from), and the lookup is by the digest, compared again in constant time.

Roles:
    publish   POST reports (CI)
    read      every page and read API
    admin     everything, and creating and revoking tokens
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from keel.errors import KeelError
from keel.ui.db import as_utc, tokens, utc_now

ROLES = ("publish", "read", "admin")
PREFIX = "keel_"
# What each role may do: admin everything, read the pages, publish the reports.
ALLOWED = {"publish": {"publish"}, "read": {"read"}, "admin": {"publish", "read", "admin"}}


@dataclass(frozen=True)
class Token:
    """A stored token (never its secret)."""

    id: int
    name: str
    role: str
    created_at: str
    revoked_at: str | None

    def may(self, action: str) -> bool:
        """Whether this role allows `action` (publish, read or admin)."""
        return action in ALLOWED.get(self.role, set())


def digest(secret: str) -> str:
    """The stored form of a token: the hex SHA-256 of its text."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create(engine: Engine, name: str, role: str) -> str:
    """Create a token named `name` with `role` and return its secret (shown only now);
    KeelError when the role is unknown or the name is taken."""
    name = name.strip()
    if role not in ROLES:
        raise KeelError(f"--role {role!r}: expected one of {', '.join(ROLES)}")
    if not name or len(name) > 200:
        raise KeelError("--name: expected 1 to 200 characters")
    secret = PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        taken = connection.execute(select(tokens.c.id).where(tokens.c.name == name)).first()
        if taken is not None:
            raise KeelError(
                f"--name {name!r}: a token of that name exists; revoke it or pick another"
            )
        connection.execute(
            insert(tokens).values(name=name, role=role, hash=digest(secret), created_at=utc_now())
        )
    return secret


def check(engine: Engine, secret: str | None) -> Token | None:
    """The live (not revoked) token whose secret is `secret`, or None."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    wanted = digest(secret)
    with engine.connect() as connection:
        row = connection.execute(select(tokens).where(tokens.c.hash == wanted)).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.hash, wanted):
        return None
    return _token(row)


def revoke(engine: Engine, name: str) -> bool:
    """Revoke the token named `name`; True when a live one was revoked, False when it was
    already revoked; KeelError when there is no such token."""
    with engine.begin() as connection:
        row = connection.execute(select(tokens).where(tokens.c.name == name)).first()
        if row is None:
            raise KeelError(f"no token named {name!r}")
        if row.revoked_at is not None:
            return False
        connection.execute(update(tokens).where(tokens.c.id == row.id).values(revoked_at=utc_now()))
    return True


def listed(engine: Engine) -> list[Token]:
    """Every token, oldest first (names and roles, never secrets)."""
    with engine.connect() as connection:
        rows = connection.execute(select(tokens).order_by(tokens.c.id)).all()
    return [_token(row) for row in rows]


def _token(row: object) -> Token:
    revoked = as_utc(row.revoked_at)  # type: ignore[attr-defined]
    return Token(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=row.role,  # type: ignore[attr-defined]
        created_at=as_utc(row.created_at).isoformat(),  # type: ignore[attr-defined,union-attr]
        revoked_at=revoked.isoformat() if revoked else None,
    )
