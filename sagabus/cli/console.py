"""`sagabus console`: serve the web console over a store (read-only unless
SAGABUS_CONSOLE_TOKEN is set).

It needs no running daemon: it reads the store (and, for the dead-letter page, the
broker). The project's configuration (flags, environment, [tool.sagabus]) says where the
store is, and its saga files draw the graphs.
Starlette and uvicorn come with the `console` extra and are imported only here, so the
rest of the CLI works without them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bus.deadletters.operations import dead_letter_queues
from bus.errors import ConfigurationError
from bus.observability.logging import configure_logging
from bus.observability.redact import redact_url
from bus.store import open_store
from bus.unitofwork.runtime import bus_topology
from bus.wire.topology import Names
from saga_dsl.engine.endpoint import SagaEndpoint
from sagabus.cli.app import app
from sagabus.cli.options import AmqpUrl, Namespace, StoreUrl
from sagabus.config import LoadedConfig
from sagabus.daemon import endpoints_if_any
from sagabus.project import open_project, project_store

DEFAULT_PORT = 8089


@app.command()
def console(
    store: StoreUrl = None,
    sagas: Annotated[
        Path | None,
        typer.Option("--sagas", help="Saga directory for the graphs (default: the project's)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = DEFAULT_PORT,
    dead_letters: Annotated[
        bool,
        typer.Option(
            "--dead-letters/--no-dead-letters",
            help="Show the DLQs of the endpoints of --handlers and --sagas (needs the broker).",
        ),
    ] = True,
    handlers: Annotated[
        list[str] | None,
        typer.Option("--handlers", help="Services whose DLQs to show (default: the project's)."),
    ] = None,
    amqp_url: AmqpUrl = None,
    namespace: Namespace = None,
) -> None:
    """Serve the web console (overview, instances, dead letters; actions with
    SAGABUS_CONSOLE_TOKEN set)."""
    try:
        import sagabus.console.serving  # noqa: F401  (the console extra is installed)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"the console needs the console extra ({exc.name} is missing): "
            "pip install 'sagabus[console]'"
        ) from None
    project = open_project(
        services=handlers, sagas=sagas, store=store, amqp_url=amqp_url, namespace=namespace
    )
    asyncio.run(_serve(project, host, port, dead_letters))


async def _serve(project: LoadedConfig, host: str, port: int, dead_letters: bool) -> None:
    """The console of `project`'s store, sagas and (with `dead_letters`) DLQs."""
    from sagabus.console import create_app
    from sagabus.console.dead_letters import BrokerDeadLetters, bound_types
    from sagabus.console.serving import serve_console

    settings = project.bus_settings()
    configure_logging(settings.log_format, settings.log_level)
    url = project_store(project)
    endpoints = endpoints_if_any(project.config)
    machines = [m for e in endpoints if isinstance(e, SagaEndpoint) for m in e.versions.values()]
    source = None
    if dead_letters:
        names = Names(settings.namespace)
        topology = bus_topology(names, endpoints, settings.queue_type)
        source = BrokerDeadLetters(
            settings.amqp_url,
            dead_letter_queues(names, topology),
            [names.queue(e.name) for e in endpoints],
            bound_types(topology),
        )
    async with open_store(url) as opened:
        app_ = create_app(opened, machines, dead_letters=source)
        typer.echo(f"sagabus console on http://{host}:{port}/ (store {redact_url(url)})", err=True)
        await serve_console(app_, host=host, port=port)

