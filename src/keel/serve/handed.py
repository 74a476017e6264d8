"""uvicorn serving the connections a supervisor hands over, instead of a listening socket.

A worker of `keel serve --workers N` listens on nothing: its connections arrive on its
`keel.serve.balance.Inbox` (a Unix socket, one accepted TCP socket per message). `HandedServer`
is uvicorn's own `Server` with only the start changed: where uvicorn's `startup` creates a
listening server with its HTTP protocol factory (the configured protocol class built with the
config, the server state and the lifespan's state), this one watches the inbox and gives each
socket to the same factory with `loop.connect_accepted_socket`. Everything after that is
uvicorn's: the app and its lifespan, keep-alive and its timeout, `limit_concurrency`, the
graceful shutdown (stop taking connections, let the open ones finish their requests), the
signal handling.

For the supervisor's choice of worker, the connection's protocol counts its close and an ASGI
wrapper counts the requests in flight, both in the worker's `Loads` slot. No websocket
protocol is loaded (Keel serves none, and a connection upgraded to one would change protocol
and go uncounted).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from keel.serve.balance import Inbox, receive


def counted_protocol(base: type[asyncio.Protocol], inbox: Inbox) -> type[asyncio.Protocol]:
    """`base` (uvicorn's HTTP protocol class) telling `inbox` when a connection closes."""

    class Counted(base):  # type: ignore[valid-type, misc]
        def connection_lost(self, exc: Exception | None) -> None:
            try:
                super().connection_lost(exc)
            finally:
                inbox.closed_one()

    Counted.__name__ = f"Counted{base.__name__}"
    return Counted


def in_flight(app: Any, inbox: Inbox) -> Any:
    """ASGI `app` counting its HTTP requests in flight in `inbox`'s slot."""

    async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        inbox.busy(1)
        try:
            await app(scope, receive, send)
        finally:
            inbox.busy(-1)

    return counted


class HandedServer(uvicorn.Server):
    """uvicorn's server taking its connections from `inbox` (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, inbox: Inbox) -> None:
        config.ws = "none"
        super().__init__(config)
        self.inbox = inbox
        self._connecting: set[asyncio.Task[None]] = set()
        self._reading = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        config.loaded_app = in_flight(config.loaded_app, self.inbox)
        protocol = counted_protocol(config.http_protocol_class, self.inbox)
        loop = asyncio.get_running_loop()

        def create_protocol() -> asyncio.Protocol:
            return protocol(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )

        self.servers = []  # uvicorn's shutdown closes these: there are none
        channel = self.inbox.channel
        channel.setblocking(False)
        loop.add_reader(channel.fileno(), self._receive, loop, create_protocol)
        self._reading = True
        self.started = True

    def _receive(self, loop: asyncio.AbstractEventLoop, factory: Any) -> None:
        connections = receive(self.inbox.channel)
        if connections is None:  # the supervisor is gone; exit_with_parent stops us
            self._stop_reading(loop)
            return
        for connection in connections:
            task = loop.create_task(self._connect(loop, factory, connection))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, factory: Any, connection: socket.socket
    ) -> None:
        try:
            await loop.connect_accepted_socket(factory, connection)
        except OSError:  # reset before it was served: never opened, so closed here
            connection.close()
            self.inbox.closed_one()

    def _stop_reading(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._reading:
            self._reading = False
            loop.remove_reader(self.inbox.channel.fileno())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Take no more connections (closing the inbox), then uvicorn's graceful shutdown."""
        self._stop_reading(asyncio.get_running_loop())
        self.inbox.channel.close()
        await super().shutdown(sockets)
