"""The team view's server: `create_app(db_url)` returns the FastAPI app `keel ui` runs.

    GET  /                      all systems (?team=&owner= filter; every view is a link)
    GET  /systems/{name}        one system over time
    GET  /runs/{id}             one published run's evidence
    GET  /practices/{id}        one practice across systems (?status=fail&team=&owner=)
    GET  /login, POST /login    exchange a token for a cookie; POST /logout forgets it
    POST /api/reports           publish (role publish): see keel.ui.payload
    GET  /api/systems           the overview as JSON (role read)
    GET  /api/tokens, POST /api/tokens, DELETE /api/tokens/{name}   tokens (role admin)

Every route but the login form needs a token (keel.ui.auth). The database is migrated to the
newest schema when the app is created. Pages are rendered on the server by autoescaping Jinja2
templates; charts are inline SVG, so the pages run no script.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from keel.errors import KeelError
from keel.ui import tokens, views
from keel.ui.auth import COOKIE, COOKIE_AGE, Denied, local_path, require
from keel.ui.db import open_engine
from keel.ui.migrate import upgrade
from keel.ui.pages import render
from keel.ui.payload import MAX_BYTES, PayloadError, check
from keel.ui.store import save

MAX_FORM_BYTES = 4096


def create_app(db_url: str, *, max_bytes: int = MAX_BYTES) -> FastAPI:
    """The team view over the database at `db_url`, migrated to the newest schema first."""
    engine = open_engine(db_url)
    upgrade(engine)
    app = FastAPI(title="Keel team view", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> Response:
        if request.url.path.startswith("/api/"):
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            return JSONResponse({"error": exc.message}, exc.status, headers=headers)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _login_page(exc.message if exc.status == 403 else "", target, exc.status)

    @app.exception_handler(PayloadError)
    async def refused(_request: Request, exc: PayloadError) -> Response:
        return JSONResponse({"error": str(exc), "field": exc.field}, exc.status)

    def page(request: Request) -> None:
        require(engine, request, "read", cookie=True)

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request, team: str | None = None, owner: str | None = None) -> Any:
        page(request)
        return render("overview.html.j2", **views.overview(engine, team=team, owner=owner))

    @app.get("/systems/{name:path}", response_class=HTMLResponse)
    def system(request: Request, name: str) -> Any:
        page(request)
        context = views.system_page(engine, name)
        if context is None:
            return _not_found(f"no system named {name!r} has published a report")
        return render("system.html.j2", **context)

    @app.get("/runs/{report_id}", response_class=HTMLResponse)
    def run(request: Request, report_id: int) -> Any:
        page(request)
        context = views.run_page(engine, report_id)
        if context is None:
            return _not_found(f"no run {report_id}")
        return render("run.html.j2", **context)

    @app.get("/practices/{practice}", response_class=HTMLResponse)
    def practice(
        request: Request,
        practice: str,
        status: str | None = None,
        team: str | None = None,
        owner: str | None = None,
    ) -> Any:
        page(request)
        context = views.practice_page(engine, practice, status=status, team=team, owner=owner)
        if context is None:
            return _not_found(f"no practice {practice!r}: ids run data.1 … monitor.7")
        return render("practice.html.j2", **context)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(next: str = "/") -> Any:
        return _login_page("", next, 200)

    @app.post("/login")
    async def login(request: Request) -> Response:
        body = await _read(request, MAX_FORM_BYTES)
        form = parse_qs(body.decode("utf-8", "replace"))
        secret = (form.get("token") or [""])[0].strip()
        target = local_path((form.get("next") or ["/"])[0])
        token = await run_in_threadpool(tokens.check, engine, secret)
        if token is None:
            return _login_page("That token is not valid (unknown or revoked).", target, 401)
        if not token.may("read"):
            return _login_page(
                f"Token {token.name!r} has role {token.role}: it may publish, not read.",
                target,
                403,
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            secret,
            max_age=COOKIE_AGE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.post("/api/reports")
    async def publish(request: Request) -> Response:
        await run_in_threadpool(require, engine, request, "publish", cookie=False)
        checked = check(await _read(request, max_bytes), max_bytes=max_bytes)
        report_id, stored = await run_in_threadpool(save, engine, checked)
        return JSONResponse(
            {"id": report_id, "stored": stored, "url": f"/runs/{report_id}"}, 201 if stored else 200
        )

    @app.get("/api/systems")
    def systems_json(request: Request, team: str | None = None, owner: str | None = None) -> Any:
        require(engine, request, "read", cookie=False)
        return views.overview_json(engine, team=team, owner=owner)

    @app.get("/api/tokens")
    def token_list(request: Request) -> Any:
        require(engine, request, "admin", cookie=False)
        return [t.__dict__ for t in tokens.listed(engine)]

    @app.post("/api/tokens")
    async def token_create(request: Request) -> Response:
        await run_in_threadpool(require, engine, request, "admin", cookie=False)
        try:
            data = json.loads(await _read(request, MAX_FORM_BYTES))
        except (ValueError, RecursionError):
            raise PayloadError("body", "expected JSON {name, role}", 400) from None
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("name", "role")
        ):
            raise PayloadError("body", 'expected {"name": …, "role": publish|read|admin}')
        try:
            secret = await run_in_threadpool(tokens.create, engine, data["name"], data["role"])
        except KeelError as exc:
            field = "role" if "--role" in str(exc) else "name"
            raise PayloadError(field, str(exc).split(": ", 1)[-1]) from None
        return JSONResponse(
            {"name": data["name"].strip(), "role": data["role"], "token": secret}, 201
        )

    @app.delete("/api/tokens/{name}")
    def token_revoke(request: Request, name: str) -> Any:
        require(engine, request, "admin", cookie=False)
        try:
            return {"name": name, "revoked": tokens.revoke(engine, name)}
        except KeelError as exc:
            return JSONResponse({"error": str(exc), "field": "name"}, 404)

    return app


async def _read(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (before reading it all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadError("body", f"{int(declared):,} bytes, over the limit of {limit:,}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadError("body", f"over the limit of {limit:,} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _login_page(message: str, target: str, status: int) -> HTMLResponse:
    return HTMLResponse(
        render("login.html.j2", title="Sign in", message=message, next=local_path(target)),
        status_code=status,
    )


def _not_found(message: str) -> HTMLResponse:
    return HTMLResponse(
        render("missing.html.j2", title="Not found", message=message), status_code=404
    )
