"""Health and metrics over HTTP: `/healthz`, `/readyz` and `/metrics` on one port.

    GET /healthz   200 {"status": "alive"} while the process's event loop answers
    GET /readyz    200 {"status": "ready", ...} when the bus is started, connected to
                   the broker, its store answers and every consumer runs; else 503
                   with the checks and a short reason
    GET /metrics   the Prometheus text format of `Metrics`

`sagabus run --metrics-port PORT` serves it (bus/daemon.py). It is a plain asyncio
server on the bus's own event loop: a readiness check runs where the bus runs, and a
loop too busy to answer is itself a finding. Requests are read with small limits and
a deadline; anything but GET of these three paths gets a 404 or a 405.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from bus.errors import ConfigurationError
from bus.observability.logging import get_logger
from bus.observability.metrics import Metrics

if TYPE_CHECKING:
    from bus.unitofwork.runtime import Bus

log = get_logger("sagabus.health")

STORE_TIMEOUT = 2.0
"""Seconds the store has to answer a readiness check."""

REQUEST_TIMEOUT = 5.0
"""Seconds a client has to send its request line and headers."""

MAX_REQUEST = 8192
"""Bytes of request line and headers read at most."""

JSON = "application/json"


@dataclass(frozen=True)
class Readiness:
    """The verdict of `/readyz`: each check's finding, and the first failure's reason."""

    ready: bool
    checks: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def body(self) -> bytes:
        document: dict[str, object] = {
            "status": "ready" if self.ready else "not ready",
            "checks": self.checks,
        }
        if self.reason:
            document["reason"] = self.reason
        return orjson.dumps(document)


async def readiness(bus: Bus | None) -> Readiness:
    """Started, broker connected, store reachable, every consumer running."""
    if bus is None or not bus.running:
        return Readiness(False, {"bus": "not started"}, "the bus is not running")
    checks: dict[str, str] = {}
    reasons: list[str] = []
    if getattr(bus.transport, "connected", True):
        checks["broker"] = "connected"
    else:
        checks["broker"] = "disconnected"
        reasons.append("not connected to the broker")
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            async with bus.store.transaction() as tx:
                await tx.outbox_backlog()
        checks["store"] = "reachable"
    except Exception as exc:
        checks["store"] = "unreachable"
        reasons.append(f"store: {type(exc).__name__}: {exc}"[:200])
    running = sum(1 for p in bus.pipelines if p.consuming)
    checks["consumers"] = f"{running} of {len(bus.pipelines)} running"
    if running < len(bus.pipelines):
        stopped = [p.endpoint.name for p in bus.pipelines if not p.consuming]
        reasons.append(f"consumers stopped: {', '.join(stopped)}")
    return Readiness(not reasons, checks, "; ".join(reasons) or None)


class HealthServer:
    """Serves `/healthz`, `/readyz` and `/metrics` on `host:port` (port 0: any free
    port, then read `port`). `bus` may be attached after start (`attach`): until then
    the daemon is alive but not ready."""

    def __init__(
        self,
        metrics: Metrics | None,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - Prometheus scrapes from elsewhere
        port: int = 9464,
        bus: Bus | None = None,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.bus = bus
        self._server: asyncio.Server | None = None

    def attach(self, bus: Bus) -> None:
        self.bus = bus

    async def start(self) -> HealthServer:
        try:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.port, limit=MAX_REQUEST
            )
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve metrics on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health and metrics served", host=self.host, port=self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> HealthServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                request = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body = await self._respond(request)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        except Exception as exc:
            log.warning("health request failed", error=repr(exc))
            status, content_type, body = 500, "text/plain", b"internal error\n"
        try:
            writer.write(
                f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _respond(self, request: bytes) -> tuple[int, str, bytes]:
        method, _, rest = request.partition(b" ")
        target = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if target not in (b"/healthz", b"/readyz", b"/metrics"):
            return 404, "text/plain", b"not found: try /healthz, /readyz or /metrics\n"
        if method != b"GET":
            return 405, "text/plain", b"method not allowed\n"
        if target == b"/healthz":
            return 200, JSON, b'{"status":"alive"}'
        if target == b"/readyz":
            verdict = await readiness(self.bus)
            return (200 if verdict.ready else 503), JSON, verdict.body()
        if self.metrics is None:
            return 404, "text/plain", b"metrics are off\n"
        body, content_type = self.metrics.exposition()
        return 200, content_type, body


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error", 503: "Service Unavailable"}
