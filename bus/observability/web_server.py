"""An ASGI application served by uvicorn on the caller's event loop: the daemon's probes
(bus/observability/probes.py) and the web console (sagabus/console/) are served this way.

The socket is bound before uvicorn starts, so a port that cannot be had is a
`ConfigurationError` at once and port 0 reads back as the port the system chose.
uvicorn's `Server.serve()` would take over SIGINT and SIGTERM; here the daemon owns
them, so the embedded server leaves signals alone and stops when closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from bus.errors import ConfigurationError
from bus.observability.logging import get_logger

log = get_logger("sagabus.web")

SHUTDOWN_GRACE = 5
"""Seconds the requests in flight have to finish when the server closes."""


class EmbeddedServer(uvicorn.Server):  # type: ignore[misc, unused-ignore]
    """A uvicorn server that leaves the process's signal handlers to its owner and
    says when it accepts connections (`listening`)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (IPv4 or IPv6, as `host` is written)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {os.strerror(exc.errno) if exc.errno else exc}"
        ) from None


class WebServer:
    """Serves `app` on `host:port` (port 0: any free port, then read `port`) from
    `start()` until `close()`; `name` says what it serves in the log."""

    def __init__(self, app: ASGIApp, *, host: str, port: int, name: str) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> WebServer:
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False,
            log_config=None,  # uvicorn's warnings go through the process's logging, redacted
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
        server = EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"web-{self.name}")
        listening = asyncio.ensure_future(server.listening.wait())
        try:
            await asyncio.wait([task, listening], return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled while starting: leave nothing behind
            server.should_exit = True
            task.cancel()
            raise
        finally:
            listening.cancel()
        if task.done():  # it could not start: say why
            sock.close()
            task.result()
            raise ConfigurationError(f"the {self.name} server did not start")
        self._server, self._task = server, task
        log.info("http server listening", serves=self.name, host=self.host, port=self.port)
        return self

    async def close(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        await task

    async def run(self) -> None:
        """Serves until cancelled, then closes (`sagabus console`)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def __aenter__(self) -> WebServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
