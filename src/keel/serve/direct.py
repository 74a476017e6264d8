"""POST /predict answered straight from the ASGI entry, before the framework's routing.

FastAPI builds a request object, resolves dependencies and wraps the answer for every request;
for a route whose whole work is `Predictor.answer(body, headers)` that machinery cost more
than validating, predicting and logging a row. `DirectRoute` is a plain ASGI middleware: for
POST /predict it reads the body (at most `max_body_bytes` kept; a larger one is read to its
end and refused with 413, so the connection stays usable), calls the predictor and sends its
answer encoded by orjson; every other request goes on to the app. FastAPI still declares
/predict, so the OpenAPI document describes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Answer = Callable[[bytes, Mapping[str, str]], Awaitable[tuple[int, dict[str, Any]]]]
_JSON = (b"content-type", b"application/json")


class DirectRoute:
    """ASGI middleware answering `method path` with `answer(body, headers)` (see module)."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        *,
        answer: Answer,
        max_body_bytes: int,
        path: str = "/predict",
        method: str = "POST",
    ) -> None:
        self.app = app
        self.answer = answer
        self.max_body_bytes = max_body_bytes
        self.path = path
        self.method = method

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body, size = await _body(receive, self.max_body_bytes)
        if size > self.max_body_bytes:  # said as a declared length: refused before parsing
            headers["content-length"] = str(size)
        status, payload = await self.answer(body, headers)
        data = orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})


async def _body(receive: Receive, limit: int) -> tuple[bytes, int]:
    """The request body and its size; past `limit` bytes the rest is read and dropped."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if size <= limit:
            chunks.append(chunk[: limit + 1 - size])
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), size
