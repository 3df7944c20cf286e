"""The daemon: runs the bus on given endpoints until SIGTERM or SIGINT, exits 0.

`serve` knows nothing of sagas or of any application: `sagabus run` composes the
endpoints (sagabus/daemon.py: the project's services, projections and sagas) and hands
them here. `import_package` imports a package with all its submodules and
`services_in` finds every `Service` instance in them, for that composition and for
`bus.testing.BusHarness(services="package")`.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import signal
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType

from bus import eventloop
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
from bus.unitofwork.service import Service

log = get_logger("sagabus.daemon")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Preparation = Callable[[Store], Awaitable[None]]
"""A step run on the open store before the bus starts (the saga engine checks its
definition versions there); raising stops the daemon before it consumes anything."""


def import_package(name: str) -> list[ModuleType]:
    """Imports module `name` and, when it is a package, every module beneath it.

    Raises `ConfigurationError` in one line: "no such module" only when `name` itself
    is missing; an exception raised inside a module names that module's file and line."""
    try:
        root = importlib.import_module(name)
    except Exception as exc:
        raise ConfigurationError(_import_failure(name, exc)) from None
    modules = [root]
    path = getattr(root, "__path__", None)
    if path is not None:
        for info in pkgutil.walk_packages(path, prefix=f"{name}."):
            try:
                modules.append(importlib.import_module(info.name))
            except Exception as exc:
                raise ConfigurationError(_import_failure(info.name, exc)) from None
    return modules


def _import_failure(name: str, exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name is not None and (
        name == exc.name or name.startswith(f"{exc.name}.")
    ):
        return f"cannot import {name!r}: no such module"
    where = error_location(exc)
    at = f" ({where})" if where else ""
    return f"cannot import {name!r}: {type(exc).__name__}: {exc}{at}"


def error_location(exc: BaseException) -> str | None:
    """`file:line` where `exc` was raised, in the code being imported: a syntax error's
    own position, else the innermost frame in the working directory (the user's code,
    not a library it called), else the innermost one outside the import machinery."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_shown_path(exc.filename)}:{exc.lineno}"
    frames = [
        frame for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen ")
    ]
    own = [frame for frame in frames if _relative(frame.filename) is not None]
    chosen = (own or frames)[-1:]
    if not chosen:
        return None
    return f"{_shown_path(chosen[0].filename)}:{chosen[0].lineno}"


def _relative(filename: str) -> str | None:
    """`filename` relative to the working directory, or None when outside it (or in a
    virtualenv inside it)."""
    try:
        relative = Path(filename).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return None
    return None if "site-packages" in relative.parts else str(relative)


def _shown_path(filename: str) -> str:
    return _relative(filename) or filename


def services_in(modules: Iterable[ModuleType]) -> list[Service]:
    """Every `Service` instance defined at the top level of `modules`, once each."""
    found: dict[int, Service] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Service):
                found.setdefault(id(value), value)
    return list(found.values())


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
                log.info("serving", endpoints=len(endpoints), event_loop=eventloop.running())
                if on_started is not None:
                    on_started(bus)
                await stop.wait()
                log.info("stopping: finishing in-flight work")
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        if health is not None:
            await health.close()
