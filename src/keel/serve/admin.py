"""Admin actions over HTTP: reload, canary, rollback — behind a bearer token, or not there at all.

    POST /admin/reload    follow the registry now instead of at the next poll
    POST /admin/rollback  {"to": VERSION?, "reason": TEXT?}: `keel rollback`, then reload
    POST /admin/canary    {"version": V, "share": 0.1}: the candidate is first served by a fresh
                          process and must answer the warm-up rows as it predicts offline, then
                          the canary starts; {"action": "abort"} ends a running one

The token comes from `KEEL_ADMIN_TOKEN` (read by `keel serve`); with none set these routes do
not exist (404), so a server started without one has no admin surface. A missing or wrong token
is a 401 and changes nothing; tokens are compared in constant time (`hmac.compare_digest`).
Registry refusals (no earlier champion, a canary already running) are a 409 with the reason.
"""

from __future__ import annotations

import hmac
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from keel.data.schema import Schema, write_schema
from keel.errors import KeelError
from keel.registry.ref import RegistryRef
from keel.serve.models import ModelHolder


class BadBody(KeelError):
    """The request body is not what the action takes (a 422)."""


@dataclass(frozen=True)
class Admin:
    """What the admin routes need: the token, the registry, and rows for a canary's check."""

    token: str = field(repr=False)
    ref: RegistryRef
    id_column: str | None = None


def _authorised(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, credential = given.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credential.strip().encode(), token.encode())


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadBody(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadBody("the body must be a JSON object")
    return body


def _serving(holder: ModelHolder) -> dict[str, Any]:
    now = holder.serving
    return {
        "champion": now.champion.version,
        "candidate": now.candidate.version if now.candidate else None,
        "share": now.share,
    }


def _positive_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadBody(f"'{key}' must be a positive integer version, got {value!r}")
    return value


def add_admin_routes(
    app: FastAPI, holder: ModelHolder, schema: Schema, admin: Admin | None
) -> None:
    """Add the admin routes to `app` when `admin` is given (see the module docstring)."""
    if admin is None or not admin.token:
        return

    async def guarded(request: Request, action: Any) -> JSONResponse:
        if not _authorised(request, admin.token):
            return _error(401, "admin actions need 'Authorization: Bearer <KEEL_ADMIN_TOKEN>'")
        try:
            body = await _body(request)
            result = await run_in_threadpool(action, body)
        except KeelError as exc:
            return _error(422 if isinstance(exc, BadBody) else 409, str(exc))
        return JSONResponse({**result, "serving": _serving(holder)})

    def reload(body: dict[str, Any]) -> dict[str, Any]:
        return {"changed": holder.poll(), "errors": holder.errors[-3:]}

    def rollback(body: dict[str, Any]) -> dict[str, Any]:
        from keel.registry.promotion import rollback as roll_back

        to = _positive_int(body, "to")
        reason = str(body.get("reason") or "rollback over the admin API")
        event = roll_back(admin.ref, to=to, who="admin-api", reason=reason)
        holder.poll()
        return {"rolled_back_to": event.version, "from": event.previous}

    def canary(body: dict[str, Any]) -> dict[str, Any]:
        from keel.registry.canary import end_canary, start_canary

        if body.get("action") == "abort":
            event = end_canary(admin.ref, False, {"aborted": "over the admin API"}, who="admin-api")
            holder.poll()
            return {"aborted": event.version}
        version = _positive_int(body, "version")
        share = body.get("share", 0.1)
        if version is None:
            raise BadBody("give {'version': V, 'share': 0.1} or {'action': 'abort'} in the body")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            raise BadBody(f"'share' must be a number between 0 and 1, got {share!r}")
        check = _fresh_check(admin, holder, schema, version)
        if not check.ok:
            raise KeelError(f"the canary did not start: {check.describe()}")
        state = start_canary(admin.ref, version, float(share), who="admin-api")
        holder.poll()
        return {"canary": state.to_dict(), "check": check.describe()}

    for path, action in (
        ("/admin/reload", reload),
        ("/admin/rollback", rollback),
        ("/admin/canary", canary),
    ):

        async def route(request: Request, action: Any = action) -> JSONResponse:
            return await guarded(request, action)

        app.add_api_route(path, route, methods=["POST"], include_in_schema=False)


def _fresh_check(admin: Admin, holder: ModelHolder, schema: Schema, version: int) -> Any:
    """The candidate served by a fresh process must answer the warm-up rows as offline."""
    from keel.serve.process import fresh_process_check

    rows = holder.warm
    if rows is None or not len(rows):
        raise KeelError(
            "this server has no warm-up rows to check the candidate with; start the canary "
            "with `keel canary start VERSION`, which serves evaluation rows"
        )
    with tempfile.TemporaryDirectory(prefix="keel-admin-") as folder:
        schema_file = Path(folder) / "schema.yaml"
        write_schema(schema, schema_file)
        return fresh_process_check(
            admin.ref, version, schema_file, pd.DataFrame(rows), id_column=admin.id_column
        )
