"""`sagabus run`, `sagabus send`, `sagabus publish`."""

from __future__ import annotations

import asyncio
import difflib
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import typer

from bus import eventloop
from bus.daemon import WebApp, serve
from bus.errors import ConfigurationError, UnknownMessageType
from bus.observability.logging import configure_logging
from bus.settings import Settings
from bus.store import namespace_url
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.middleware import load_middleware
from bus.wire.client import BusClient
from bus.wire.contracts import registry
from bus.wire.envelope import Envelope
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.versions import InvalidSagas
from sagabus.cli.app import app
from sagabus.cli.follow import follow_saga
from sagabus.cli.options import AmqpUrl, Handlers, Namespace, Sagas, StoreUrl
from sagabus.cli.replies import Match, ReplyTimeout, WaitFor, print_reply, send_and_wait
from sagabus.daemon import assemble
from sagabus.imports import import_contracts
from sagabus.project import open_project

Contracts = Annotated[
    list[str] | None,
    typer.Option(
        "--contracts",
        help="Module or package of contracts (repeatable; default: the project's services).",
    ),
]
Prefetch = Annotated[
    int | None, typer.Option("--prefetch", help="Prefetch per consumer [SAGABUS_PREFETCH].")
]
LogFormat = Annotated[
    str | None, typer.Option("--log-format", help="console or json [SAGABUS_LOG_FORMAT].")
]
TypeName = Annotated[str, typer.Argument(metavar="TYPE", help="Message type, e.g. CreateOrder.")]
Data = Annotated[str, typer.Option("--data", help="The payload as a JSON object.")]
CorrelationId = Annotated[
    str | None, typer.Option("--correlation-id", help="Conversation or saga instance id.")
]


Follow = Annotated[
    bool,
    typer.Option("--follow", help="Print each transition of the saga this starts, until it ends."),
]
NoSagas = Annotated[
    bool, typer.Option("--no-sagas", help="Serve services only, even when sagas are configured.")
]
FollowStore = Annotated[
    str | None, typer.Option("--store", help="Store URL to follow the saga in [SAGABUS_STORE].")
]
FollowTimeout = Annotated[
    float, typer.Option("--follow-timeout", help="Seconds to follow, at most.")
]
ConsolePort = Annotated[
    int | None,
    typer.Option(
        "--console-port", min=0, max=65535, envvar="SAGABUS_CONSOLE_PORT",
        help="Serve the web console on 127.0.0.1:PORT, with /metrics, /healthz and "
        "/readyz (the console extra; read-only unless SAGABUS_CONSOLE_TOKEN is set) "
        "[SAGABUS_CONSOLE_PORT].",
    ),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port", min=0, max=65535,
        help="Serve /metrics, /healthz and /readyz on this port, on all addresses (the "
        "same port as --console-port: the console's one server) [SAGABUS_METRICS_PORT].",
    ),
]

MiddlewareSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--middleware", metavar="MODULE:NAME",
        help="Middleware around every handler (repeatable)"
        " [SAGABUS_MIDDLEWARE, comma-separated; [tool.sagabus] middleware].",
    ),
]


@app.command()
def run(
    handlers: Handlers = None,
    sagas: Sagas = None,
    no_sagas: NoSagas = False,
    store: StoreUrl = None,
    amqp_url: AmqpUrl = None,
    prefetch: Prefetch = None,
    namespace: Namespace = None,
    log_format: LogFormat = None,
    metrics_port: MetricsPort = None,
    console_port: ConsolePort = None,
    middleware: MiddlewareSpecs = None,
) -> None:
    """Run the daemon: serve the project's services and sagas until SIGTERM or SIGINT."""
    project = open_project(
        services=handlers, sagas=sagas, store=store, amqp_url=amqp_url, prefetch=prefetch,
        namespace=namespace, metrics_port=metrics_port, middleware=middleware,
    )
    settings = project.bus_settings(log_format=log_format)
    configure_logging(settings.log_format, settings.log_level)
    try:
        assembly = assemble(project.config, sagas=not no_sagas)
    except InvalidSagas as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    web = None if console_port is None else _console(console_port, assembly.endpoints)
    eventloop.run(
        serve(
            settings, assembly.endpoints, background=assembly.background,
            prepare=assembly.prepare, metrics_port=project.config.metrics_port, web=web,
            middleware=load_middleware(project.config.middleware),
        )
    )


@app.command()
def send(
    type_name: TypeName,
    data: Data = "{}",
    correlation_id: CorrelationId = None,
    contracts: Contracts = None,
    amqp_url: AmqpUrl = None,
    namespace: Namespace = None,
    follow: Follow = False,
    store: FollowStore = None,
    follow_timeout: FollowTimeout = 120.0,
    wait_for: WaitFor = None,
    timeout: ReplyTimeout = 30.0,
    match: Match = None,
) -> None:
    """Send a command to the service that handles it."""
    message = _message(type_name, data, correlation_id, contracts, amqp_url, namespace, store)
    if wait_for:
        _request(message, wait_for, timeout, match or [])
        return
    envelope = _dispatch("command", message)
    if follow:
        project = open_project(store=store, namespace=namespace)
        outcome = asyncio.run(follow_saga(
            namespace_url(project.config.store, project.config.namespace),
            envelope.message_id,
            follow_timeout,
        ))
        raise typer.Exit(0 if outcome == "completed" else 1)


@app.command()
def publish(
    type_name: TypeName,
    data: Data = "{}",
    correlation_id: CorrelationId = None,
    contracts: Contracts = None,
    amqp_url: AmqpUrl = None,
    namespace: Namespace = None,
) -> None:
    """Publish an event to every subscriber."""
    _dispatch("event", _message(type_name, data, correlation_id, contracts, amqp_url, namespace))


@dataclass(frozen=True)
class _Message:
    """A message given on the command line, its type and payload checked, and the
    settings of the bus it goes to."""

    settings: Settings
    type_name: str
    payload: dict[str, Any]
    correlation_id: str | None


def _message(
    type_name: str,
    data: str,
    correlation_id: str | None,
    contracts: list[str] | None,
    amqp_url: str | None,
    namespace: str | None,
    store: str | None = None,
) -> _Message:
    project = open_project(amqp_url=amqp_url, namespace=namespace, store=store)
    settings = project.bus_settings()
    configure_logging("console", "error")
    import_contracts(contracts or project.config.services)
    payload = _json_object(data)
    _check_type(type_name)
    return _Message(settings, type_name, payload, correlation_id)


def _dispatch(kind: str, message: _Message) -> Envelope:
    async def go() -> Envelope:
        async with BusClient(message.settings) as client:
            dispatch = client.send_type if kind == "command" else client.publish_type
            return await dispatch(
                message.type_name, message.payload, correlation_id=message.correlation_id
            )

    envelope = asyncio.run(go())
    verb = "sent" if kind == "command" else "published"
    typer.echo(f"{verb} {envelope.type} {envelope.message_id}")
    return envelope


def _request(message: _Message, wait_for: list[str], timeout: float, match: list[str]) -> None:
    """`send --wait-for`: sends the command, prints the reply (sagabus/cli/replies.py)."""

    async def go() -> tuple[Envelope, Envelope]:
        async with BusClient(message.settings) as client:
            return await send_and_wait(
                client, message.type_name, message.payload,
                correlation_id=message.correlation_id,
                wait_for=wait_for, timeout=timeout, match=match,
            )

    command, reply = asyncio.run(go())
    typer.echo(f"sent {command.type} {command.message_id}")
    print_reply(reply)


def _json_object(data: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(f"--data is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"--data must be a JSON object, not {type(value).__name__}")
    return value


def _check_type(type_name: str) -> None:
    if type_name in registry:
        return
    known = registry.names()
    by_lower = {name.lower(): name for name in known}
    close = difflib.get_close_matches(type_name.lower(), list(by_lower), n=1)
    close = [by_lower[c] for c in close]
    if close:
        hint = f" (did you mean {close[0]}?)"
    elif known:
        hint = f" (known: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})"
    else:
        hint = (
            " (no contracts are loaded: name their module with --contracts, or the "
            "project's services in [tool.sagabus] of pyproject.toml)"
        )
    raise UnknownMessageType(f"unknown message type {type_name!r}{hint}")


def _console(port: int, endpoints: list[Endpoint]) -> WebApp:
    """The web console the daemon serves, with its probes (sagabus/console/)."""
    try:
        from sagabus.console.serving import console_web
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"--console-port needs the console extra ({exc.name} is missing): "
            "pip install 'sagabus[console]'"
        ) from None
    machines = [m for e in endpoints if isinstance(e, SagaEndpoint) for m in e.versions.values()]
    return console_web(port, machines)
