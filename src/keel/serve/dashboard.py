"""GET /dashboard: the monitoring dashboard `keel monitor --html FILE` wrote last.

The file is read on every request, so a `keel monitor --every 10m --html FILE` running beside
the server is shown as soon as it rewrites the page (it writes atomically: a request never sees
half a page). Until the file exists the route answers a short page saying how to produce it
(200: the server is fine, the dashboard is simply not written yet). The dashboard runs no
script, and the answer's Content-Security-Policy forbids scripts and every fetch, so a value
that slipped through escaping still could not run or call out.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def missing_page(html_path: Path) -> str:
    """The page shown before `keel monitor --html` has written the dashboard."""
    where = escape(str(html_path))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Keel monitoring: no dashboard yet</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:720px;margin:40px auto;"
        "padding:0 20px;color:#1d2329}code{background:#eceef0;padding:1px 5px;"
        "border-radius:4px}</style></head><body>"
        "<h1>No monitoring dashboard yet</h1>"
        f"<p>This server shows the dashboard <code>keel monitor</code> writes to "
        f"<code>{where}</code>, and nothing is there yet.</p>"
        f"<p>Send the server some traffic, then run <code>keel monitor --html {where}</code> "
        f"(add <code>--every 10m</code> to keep it fresh) and reload this page.</p>"
        "</body></html>"
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def add_dashboard_route(app: FastAPI, html_path: Path) -> None:
    """Serve GET /dashboard on `app` from `html_path` (see the module docstring)."""
    html_path = Path(html_path)

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        text = await run_in_threadpool(_read, html_path)
        if text is None:
            return HTMLResponse(missing_page(html_path), headers=HEADERS)
        return HTMLResponse(text, headers=HEADERS)


__all__ = ["add_dashboard_route", "missing_page"]
