"""The console's ASGI application: routes, templates, static files, safety headers.

`create_app(store, machines)` builds it around a store the caller has opened (the
daemon's own, or one `sagabus console` opens), so it runs on the caller's event loop.
Every page is a GET that reads; the actions (`actions`) are POSTs that
`guard.Guard` lets through only for the operator logged in with the console's token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus.observability.probes import Probes
from bus.store.base import Store
from saga_dsl.machine import Machine
from sagabus.console import actions, pages, selection
from sagabus.console.dead_letters import DeadLetterSource
from sagabus.console.guard import Guard, configured_token

HERE = Path(__file__).parent

SECURITY_HEADERS = (
    # scripts only from this server; mermaid styles its SVG inline
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


@dataclass(frozen=True)
class ConsoleContext:
    """What the pages read from: the store, the sagas' machines by name, and where
    dead letters are (None when the console has no broker)."""

    store: Store
    machines: dict[str, Machine]
    dead_letters: DeadLetterSource | None
    templates: Environment
    asyncapi: Mapping[str, Any] | None = None
    """The AsyncAPI document of the bus served (sagabus/asyncapi.py), when known."""
    guard: Guard = field(default_factory=lambda: Guard(None))
    versions: tuple[Machine, ...] = ()
    """Every machine given (all versions): the operator actions move an instance by
    the version it runs on."""


def templates() -> Environment:
    """Jinja2 with autoescaping on for every template: every value a page shows from
    the store or a message is HTML-escaped."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        enable_async=False,
    )
    return env


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    store: Store,
    machines: Sequence[Machine] = (),
    *,
    dead_letters: DeadLetterSource | None = None,
    asyncapi: Mapping[str, Any] | None = None,
    token: str | None = None,
    probes: Sequence[BaseRoute] | None = None,
) -> Starlette:
    """The console over an open `store`; `machines` draw the graphs (the newest
    version of each saga is drawn); `asyncapi` is served at /asyncapi.json. `token`
    (default: `SAGABUS_CONSOLE_TOKEN`) allows actions; without one it is read-only.
    `probes`: the routes of `/healthz`, `/readyz` and `/metrics` (a daemon's, from
    `bus.observability.probes.Probes.routes`); by default those of a console without a
    bus: alive, ready while the store answers, no metrics."""
    if probes is None:
        probes = Probes(store=store).routes()
    newest: dict[str, Machine] = {}
    for machine in machines:
        if machine.name not in newest or machine.version > newest[machine.name].version:
            newest[machine.name] = machine
    app = Starlette(
        routes=[
            Route("/", pages.overview, name="overview"),
            Route("/instances", pages.instances, name="instances"),
            Route("/login", actions.login_page, name="login_page"),
            Route("/login", actions.login, methods=["POST"], name="login"),
            Route("/logout", actions.logout, methods=["POST"], name="logout"),
            Route("/dead-letters/replay", actions.replay, methods=["POST"], name="replay"),
            Route("/dead-letters/purge", actions.purge, methods=["POST"], name="purge"),
            Route(
                "/actions/{instance_id:path}",
                actions.instance_action,
                methods=["POST"],
                name="instance_action",
            ),
            Route(
                "/selection/actions",
                selection.selection_action,
                methods=["POST"],
                name="selection_action",
            ),
            Route("/instances/{instance_id:path}", pages.instance, name="instance"),
            Route("/streams/{stream_id:path}", pages.stream, name="stream"),
            Route("/dead-letters", pages.dead_letters, name="dead_letters"),
            *probes,
            Route("/asyncapi.json", pages.asyncapi, name="asyncapi"),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={404: pages.not_found, 400: pages.bad_request, 405: pages.not_allowed},
    )
    guard = Guard(configured_token(token))
    app.state.console = ConsoleContext(
        store, newest, dead_letters, templates(), asyncapi, guard, tuple(machines)
    )
    return app
