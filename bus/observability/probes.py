"""The probes over HTTP, as Starlette routes: `/healthz`, `/readyz` and `/metrics`.

    GET /healthz   200 {"status": "alive"} while the process's event loop answers
    GET /readyz    200 {"status": "ready", ...} when the bus is started, connected to
                   the broker, its store answers and every consumer runs; else 503
                   with the checks and a short reason (bus/observability/health.py).
                   With a store and no bus (`sagabus console`): ready while the
                   store answers
    GET /metrics   the Prometheus text format of `Metrics`; 404 when metrics are off

`probe_app(probes)` is an application of these three alone (`sagabus run
--metrics-port`); `probes.routes()` are the same routes for another application to
include (the web console, sagabus/console/). Both are served by uvicorn on the bus's
own event loop (bus/observability/web_server.py): a readiness check runs where the bus
runs, and a loop too busy to answer is itself a finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bus.observability.health import Readiness, readiness, store_readiness
from bus.observability.metrics import Metrics

if TYPE_CHECKING:
    from bus.store import Store
    from bus.unitofwork.runtime import Bus

JSON = "application/json"


class Probes:
    """What the probes answer from: `metrics` (None: off), and either the `bus` (it may
    be attached once it exists: until then the process is alive but not ready) or, for a
    process without a bus, the `store` readiness is judged by."""

    def __init__(
        self, metrics: Metrics | None = None, *, bus: Bus | None = None,
        store: Store | None = None,
    ) -> None:
        self.metrics = metrics
        self.bus = bus
        self.store = store

    def attach(self, bus: Bus) -> None:
        self.bus = bus

    async def readiness(self) -> Readiness:
        if self.bus is None and self.store is not None:
            return await store_readiness(self.store)
        return await readiness(self.bus)

    def routes(self) -> list[BaseRoute]:
        """GET `/healthz`, `/readyz` and `/metrics`."""
        return [
            Route("/healthz", self._healthz, methods=["GET"], name="healthz"),
            Route("/readyz", self._readyz, methods=["GET"], name="readyz"),
            Route("/metrics", self._metrics, methods=["GET"], name="metrics"),
        ]

    async def _healthz(self, request: Request) -> Response:
        return Response(b'{"status":"alive"}', media_type=JSON)

    async def _readyz(self, request: Request) -> Response:
        verdict = await self.readiness()
        return Response(verdict.body(), status_code=200 if verdict.ready else 503,
                        media_type=JSON)

    async def _metrics(self, request: Request) -> Response:
        if self.metrics is None:
            return PlainTextResponse("metrics are off\n", status_code=404)
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("not found: try /healthz, /readyz or /metrics\n", status_code=404)


def probe_app(probes: Probes) -> Starlette:
    """An application serving `probes` and nothing else."""
    return Starlette(routes=probes.routes(), exception_handlers={404: _not_found})
