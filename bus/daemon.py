"""The daemon: runs the bus on given endpoints until SIGTERM or SIGINT, exits 0.

`serve` knows nothing of sagas or of any application: `sagabus run` composes the
endpoints (sagabus/daemon.py: the project's services, projections and sagas) and hands
them here. `import_package` and `services_in` (from `bus.discovery`, kept importable
from here) find the user's services for that composition and for
`bus.testing.BusHarness(services="package")`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from dataclasses import dataclass

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from bus import eventloop
from bus.discovery import import_package as import_package  # re-exported: callers import it here
from bus.discovery import services_in as services_in
from bus.errors import ConfigurationError
from bus.observability.logging import get_logger
from bus.observability.metrics import Metrics
from bus.observability.observe import Observer
from bus.observability.probes import Probes, probe_app
from bus.observability.sampler import Sampler
from bus.observability.tracing import tracing_observer
from bus.observability.web_server import WebServer
from bus.settings import Settings
from bus.store import Store, open_store
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.middleware import Middleware, with_middleware
from bus.unitofwork.runtime import BackgroundTask, Bus
from bus.unitofwork.scheduled import ScheduledSends, release_scheduled

log = get_logger("sagabus.daemon")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Preparation = Callable[[Store], Awaitable[None]]
"""A step run on the open store before the bus starts (the saga engine checks its
definition versions there); raising stops the daemon before it consumes anything."""

PROBE_HOST = "0.0.0.0"  # noqa: S104 - Prometheus and the orchestrator probe from elsewhere
"""Where `metrics_port` serves the probes."""

WebBuilder = Callable[[Bus, Sequence[BaseRoute]], ASGIApp]
"""Builds a web application from the bus (before it starts) and the probe routes
(`/healthz`, `/readyz`, `/metrics`) the application is to include."""


@dataclass(frozen=True)
class WebApp:
    """An application the daemon serves, probes included, on `host:port` (sagabus's
    web console)."""

    port: int
    build: WebBuilder
    host: str = "127.0.0.1"
    name: str = "web console"


async def serve(
    settings: Settings,
    endpoints: Sequence[Endpoint],
    *,
    background: Sequence[BackgroundTask] = (),
    prepare: Sequence[Preparation] = (),
    on_started: Callable[[Bus], None] | None = None,
    metrics_port: int | None = None,
    web: WebApp | None = None,
    middleware: Sequence[Middleware] = (),
) -> None:
    """Opens the store, runs `prepare`, runs a `Bus` until SIGTERM/SIGINT, then stops
    it cleanly. `middleware`: around every endpoint's handlers
    (bus/unitofwork/middleware.py). Tracing is on when the process has an OpenTelemetry
    SDK tracer provider (bus/observability/tracing.py).

    One HTTP server per port (bus/observability/probes.py): `metrics_port` serves
    `/metrics`, `/healthz` and `/readyz` on all addresses from the start; `web` serves
    its application with the same three routes once the bus exists. Either turns the
    metrics on. When both name the same port, `web`'s one server (on `web.host`)
    carries them all."""
    if not endpoints:
        raise ConfigurationError("nothing to serve: no services or sagas were found")
    # every daemon keeps and releases scheduled sends (ctx.send(..., delay=...))
    # (one scheduler, outside the user's middleware: it carries others' messages)
    own = [e for e in endpoints if not isinstance(e, ScheduledSends)]
    endpoints = [*with_middleware(own, middleware), ScheduledSends()]
    metrics = Metrics() if metrics_port is not None or web is not None else None
    observers = _observers(metrics)
    background = [*background, release_scheduled, *([] if metrics is None else [Sampler(metrics)])]
    probes = Probes(metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with AsyncExitStack() as servers:
            if metrics_port is not None and (web is None or web.port != metrics_port):
                await servers.enter_async_context(
                    WebServer(probe_app(probes), host=PROBE_HOST, port=metrics_port, name="probes")
                )
            async with open_store(settings) as store:
                for step in prepare:
                    await step(store)
                bus = Bus(settings, store, endpoints, background=background, observers=observers)
                probes.attach(bus)
                # the web application reads the store: it closes before the store does
                async with _web_server(web, bus, probes), bus:
                    log.info(
                        "serving", endpoints=len(endpoints), event_loop=eventloop.running()
                    )
                    if on_started is not None:
                        on_started(bus)
                    await stop.wait()
                    log.info("stopping: finishing in-flight work")
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def _web_server(
    web: WebApp | None, bus: Bus, probes: Probes
) -> AbstractAsyncContextManager[object]:
    """`web`'s application over `bus`, with the probe routes, served while in the
    context (nothing when `web` is None)."""
    if web is None:
        return nullcontext()
    site = web.build(bus, probes.routes())
    return WebServer(site, host=web.host, port=web.port, name=web.name)


def _observers(metrics: Metrics | None) -> list[Observer]:
    """The bus's observers: `metrics` when on, tracing when the process traces."""
    observers: list[Observer] = [] if metrics is None else [metrics]
    tracing = tracing_observer()
    if tracing is not None:
        observers.append(tracing)
        log.info("tracing on: spans go to the global OpenTelemetry tracer provider")
    return observers
