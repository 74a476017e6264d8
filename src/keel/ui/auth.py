"""Who is asking: a bearer token for the API, an HttpOnly cookie for browsers.

The API takes `Authorization: Bearer keel_…`. A browser signs in once on /login, which
exchanges a token for a cookie (HttpOnly, so no script reads it; SameSite=Strict, so no other
site's page sends it; Secure over HTTPS). A token in the URL (`?token=`) is never read: URLs
end up in logs, histories and Referer headers. No token, an unknown or a revoked one is 401
and changes nothing; a token whose role does not allow the action is 403.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from keel.ui import tokens
from keel.ui.tokens import Token

COOKIE = "keel_ui"
COOKIE_AGE = 30 * 24 * 3600


class Denied(Exception):
    """The request may not go on: 401 (who are you?) or 403 (not with this role)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def secret_of(request: Request, *, cookie: bool) -> str | None:
    """The token the request carries: its bearer header, else (for pages) its cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) if cookie else None


def require(engine: Engine, request: Request, action: str, *, cookie: bool) -> Token:
    """The request's live token allowing `action`; Denied(401) without one, Denied(403) when
    its role does not allow it."""
    token = tokens.check(engine, secret_of(request, cookie=cookie))
    if token is None:
        raise Denied(401, "a valid token is needed (Authorization: Bearer keel_…)")
    if not token.may(action):
        raise Denied(403, f"token {token.name!r} has role {token.role}, which may not {action}")
    return token


def local_path(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
