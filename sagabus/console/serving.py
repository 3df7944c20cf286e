"""Serving the console on the caller's event loop (uvicorn's `Server.serve()`, through
bus/observability/web_server.py): inside the daemon (`sagabus run --console-port`,
`console_web`), where the console also carries the daemon's `/healthz`, `/readyz` and
`/metrics`, or alone over a store (`sagabus console`, `serve_console`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bus.daemon import WebApp, WebBuilder
from bus.deadletters.operations import dead_letter_queues
from bus.observability.web_server import WebServer
from bus.unitofwork.runtime import bus_topology
from bus.wire.contracts import registry
from saga_dsl.machine import Machine
from sagabus.asyncapi import asyncapi_document, broker_host
from sagabus.console.app import create_app
from sagabus.console.dead_letters import BrokerDeadLetters, bound_types
from sagabus.participants import of_endpoint

if TYPE_CHECKING:
    from bus.unitofwork.runtime import Bus

DEFAULT_HOST = "127.0.0.1"


async def serve_console(app: Starlette, *, host: str, port: int) -> None:
    """Serves `app` until cancelled; a port that cannot be bound raises
    `ConfigurationError`."""
    await WebServer(app, host=host, port=port, name="web console").run()


def console_builder(machines: Sequence[Machine] = ()) -> WebBuilder:
    """Builds the console over a bus's store, with the graphs of `machines`, the dead
    letters of the bus's endpoints, the AsyncAPI document of its messages and the
    daemon's probe routes."""

    def build(bus: Bus, probes: Sequence[BaseRoute]) -> Starlette:
        topology = bus_topology(bus.names, bus.endpoints, bus.settings.queue_type)
        letters = BrokerDeadLetters(
            bus.settings.amqp_url,
            dead_letter_queues(bus.names, topology),
            [bus.names.queue(e.name) for e in bus.endpoints],
            bound_types(topology),
        )
        document = asyncapi_document(
            registry,
            [of_endpoint(e) for e in bus.endpoints],
            namespace=bus.names.namespace,
            host=broker_host(bus.settings.amqp_url),
        )
        return create_app(
            bus.store, machines, dead_letters=letters, asyncapi=document, probes=probes
        )

    return build


def console_web(
    port: int, machines: Sequence[Machine] = (), host: str = DEFAULT_HOST
) -> WebApp:
    """The console as the daemon's web application (`bus.daemon.serve(web=...)`)."""
    return WebApp(port=port, build=console_builder(machines), host=host)
