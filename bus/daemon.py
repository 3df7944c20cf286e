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

from bus.discovery import import_package as import_package  # re-exported: callers import it here
from bus.discovery import services_in as services_in
from bus.errors import ConfigurationError
from bus.observability.health import HealthServer
from bus.observability.logging import get_logger
from bus.observability.metrics import Metrics
from bus.observability.observe import Observer
from bus.observability.sampler import Sampler
from bus.observability.tracing import tracing_observer
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


async def serve(
    settings: Settings,
    endpoints: Sequence[Endpoint],
    *,
    background: Sequence[BackgroundTask] = (),
    prepare: Sequence[Preparation] = (),
    on_started: Callable[[Bus], None] | None = None,
    metrics_port: int | None = None,
    middleware: Sequence[Middleware] = (),
) -> None:
    """Opens the store, runs `prepare`, runs a `Bus` until SIGTERM/SIGINT, then stops
    it cleanly. `middleware`: around every endpoint's handlers
    (bus/unitofwork/middleware.py). `metrics_port`: serve `/metrics`, `/healthz` and `/readyz` there
    (bus/observability/health.py). Tracing is on when the process has an OpenTelemetry SDK tracer
    provider (bus/observability/tracing.py)."""
    if not endpoints:
        raise ConfigurationError("nothing to serve: no services or sagas were found")
    # every daemon keeps and releases scheduled sends (ctx.send(..., delay=...))
    # (one scheduler, outside the user's middleware: it carries others' messages)
    own = [e for e in endpoints if not isinstance(e, ScheduledSends)]
    endpoints = [*with_middleware(own, middleware), ScheduledSends()]
    background = [*background, release_scheduled]
    observers: list[Observer] = []
    tracing = tracing_observer()
    if tracing is not None:
        observers.append(tracing)
        log.info("tracing on: spans go to the global OpenTelemetry tracer provider")
    health: HealthServer | None = None
    if metrics_port is not None:
        metrics = Metrics()
        observers.append(metrics)
        background = [*background, Sampler(metrics)]
        health = await HealthServer(metrics, port=metrics_port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with open_store(settings) as store:
            for step in prepare:
                await step(store)
            bus = Bus(settings, store, endpoints, background=background, observers=observers)
            if health is not None:
                health.attach(bus)
            async with bus:
                if on_started is not None:
                    on_started(bus)
                await stop.wait()
                log.info("stopping: finishing in-flight work")
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        if health is not None:
            await health.close()
