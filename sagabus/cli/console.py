"""`sagabus console`: serve the read-only web console over a store.

It needs no running daemon: it reads the store (and, for the dead-letter page, the
broker). The saga files of `--sagas` (default: the project's sagas) draw the graphs.
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
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import bus_topology
from bus.wire.topology import Names
from saga_dsl.engine.versions import load_machines
from saga_dsl.machine import Machine
from sagabus.cli.app import app
from sagabus.config import ProjectConfig
from sagabus.daemon import NothingToRun, assemble
from sagabus.project import import_contracts, open_project

DEFAULT_PORT = 8089


@app.command()
def console(
    store: Annotated[str | None, typer.Option("--store", help="Store URL [SAGABUS_STORE].")] = None,
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
        typer.Option(
            "--handlers",
            help="Module or package of services (repeatable; default: the project's services).",
        ),
    ] = None,
    amqp_url: Annotated[
        str | None, typer.Option("--amqp-url", help="RabbitMQ URL [SAGABUS_AMQP_URL].")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", help="Exchange and queue prefix [SAGABUS_NAMESPACE]."),
    ] = None,
) -> None:
    """Serve the read-only web console (overview, instances, dead letters)."""
    try:
        import uvicorn

        from sagabus.console import create_app
        from sagabus.console.dead_letters import BrokerDeadLetters
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"the console needs the console extra ({exc.name} is missing): "
            "pip install 'sagabus[console]'"
        ) from None
    project = open_project(
        services=handlers, sagas=sagas, store=store, amqp_url=amqp_url, namespace=namespace
    )
    settings = project.bus_settings()
    configure_logging(settings.log_format, settings.log_level)
    machines = _machines(project.config)
    source = None
    if dead_letters:
        names = Names(settings.namespace)
        topology = bus_topology(names, _endpoints(project.config), settings.queue_type)
        source = BrokerDeadLetters(settings.amqp_url, dead_letter_queues(names, topology))

    async def serve() -> None:
        async with open_store(settings.store) as opened:
            app_ = create_app(opened, machines, dead_letters=source)
            config = uvicorn.Config(app_, host=host, port=port, log_level="warning")
            typer.echo(
                f"sagabus console on http://{host}:{port}/ (store {redact_url(settings.store)})",
                err=True,
            )
            await uvicorn.Server(config).serve()

    asyncio.run(serve())


def _machines(config: ProjectConfig) -> list[Machine]:
    if config.sagas is None:
        return []
    import_contracts(config.services)  # the contracts saga files are checked against
    return load_machines(config.sagas)


def _endpoints(config: ProjectConfig) -> list[Endpoint]:
    try:
        return assemble(config).endpoints
    except NothingToRun:
        return []
