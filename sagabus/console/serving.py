"""Serving the console with uvicorn on the caller's event loop: inside the daemon
(`sagabus run --console-port`) as one of the bus's background tasks, or alone
(`sagabus console`).

uvicorn's `Server.serve()` would take over SIGINT and SIGTERM; here the daemon owns
them, so the embedded server leaves signals alone and stops when its task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette

from bus.deadletters.operations import dead_letter_queues
from bus.errors import ConfigurationError
from bus.unitofwork.runtime import BackgroundTask, bus_topology
from bus.wire.contracts import registry
from saga_dsl.machine import Machine
from sagabus.asyncapi import asyncapi_document, broker_host
from sagabus.console.app import create_app
from sagabus.console.dead_letters import BrokerDeadLetters
from sagabus.participants import of_endpoint

if TYPE_CHECKING:
    from bus.unitofwork.runtime import Bus

DEFAULT_HOST = "127.0.0.1"


class EmbeddedServer(uvicorn.Server):  # type: ignore[misc, unused-ignore]
    """A uvicorn server that leaves the process's signal handlers to its owner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_console(app: Starlette, *, host: str, port: int) -> None:
    """Serves `app` until cancelled (then closes the listening socket and returns
    the cancellation); a port that cannot be bound raises `ConfigurationError`."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = EmbeddedServer(config)
    running = asyncio.ensure_future(server.serve())
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(SystemExit):
            await running
        raise
    except SystemExit:  # uvicorn exits the process when it cannot bind
        raise ConfigurationError(f"the console cannot listen on {host}:{port}") from None


def console_task(
    port: int, machines: Sequence[Machine] = (), host: str = DEFAULT_HOST
) -> BackgroundTask:
    """A background task for `Bus` that serves the console over the bus's store, with
    the graphs of `machines`, the dead letters of the bus's endpoints and the AsyncAPI
    document of its messages."""

    async def console(bus: Bus) -> None:
        topology = bus_topology(bus.names, bus.endpoints, bus.settings.queue_type)
        letters = BrokerDeadLetters(
            bus.settings.amqp_url,
            dead_letter_queues(bus.names, topology),
            [bus.names.queue(e.name) for e in bus.endpoints],
        )
        document = asyncapi_document(
            registry,
            [of_endpoint(e) for e in bus.endpoints],
            namespace=bus.names.namespace,
            host=broker_host(bus.settings.amqp_url),
        )
        app = create_app(bus.store, machines, dead_letters=letters, asyncapi=document)
        await serve_console(app, host=host, port=port)

    return console
