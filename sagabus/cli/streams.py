"""`sagabus stream ...` and `sagabus projection ...`: event streams and read models.

    sagabus stream show order-42 [--as-of 3 | --as-of 2025-01-31T12:00:00Z] [--json]
    sagabus projection status [--json]
    sagabus projection rebuild orders
    sagabus projection resume orders

The aggregates and projections are the ones defined by the modules of `--handlers`
(default: the project's services, from `[tool.sagabus]`), found by stream category and
projection name.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from bus.errors import SagabusError
from bus.eventsourcing import (
    AsOf,
    EventStore,
    Projection,
    ProjectionRunner,
    RecordedEvent,
    aggregate_for_stream,
    registered_projections,
)
from bus.store import ProjectionRecord, open_store
from sagabus.cli.app import app
from sagabus.cli.options import Json
from sagabus.imports import import_contracts
from sagabus.project import open_project, project_store

stream_app = typer.Typer(
    help="Event streams: the events of a stream and the state they rebuild.",
    no_args_is_help=True,
)
projection_app = typer.Typer(
    help="Projections: read models that follow the global event log.",
    no_args_is_help=True,
)
app.add_typer(stream_app, name="stream")
app.add_typer(projection_app, name="projection")

EXIT_PARKED = 1
"""Exit code of `projection rebuild|resume` when the projection ends parked."""

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Store URL [SAGABUS_STORE; default: the project's store]."),
]
Handlers = Annotated[
    str | None,
    typer.Option(
        "--handlers",
        help="Module or package defining the aggregates and projections "
        "(default: the project's services).",
    ),
]


class StreamNotFound(SagabusError):
    """`stream show` of a stream with no events."""


class UnknownProjection(SagabusError):
    """A projection name that no loaded module defines."""


@dataclass(frozen=True, slots=True)
class StreamView:
    stream_id: str
    head: int
    events: list[RecordedEvent[Any]]
    aggregate: str | None
    state: dict[str, Any] | None

    @property
    def version(self) -> int:
        return self.events[-1].version if self.events else 0

    def as_json(self, as_of: AsOf | None) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "version": self.version,
            "head": self.head,
            "as_of": as_of.isoformat() if isinstance(as_of, datetime) else as_of,
            "aggregate": self.aggregate,
            "events": [
                {
                    "version": r.version,
                    "position": r.position,
                    "recorded_at": r.recorded_at.isoformat(),
                    "type": r.type,
                    "schema_version": r.schema_version,
                    "payload": r.event.model_dump(mode="json"),
                    "metadata": dict(r.metadata),
                }
                for r in self.events
            ],
            "state": self.state,
        }


def parse_as_of(text: str) -> AsOf:
    """A stream version (digits) or an ISO 8601 time (no time zone means UTC)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a version (e.g. 3) nor an ISO 8601 time "
            "(e.g. 2025-01-31T12:00:00Z)",
            param_hint="--as-of",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def load_handlers(module: str | None) -> None:
    """Imports `module` (default: the project's services) and, when it is a package,
    each of its modules, so that their contracts, aggregates and projections register
    themselves."""
    import_contracts(open_project().config.services if module is None else [module])


async def read_stream(url: str, stream_id: str, as_of: AsOf | None) -> StreamView:
    """The events of `stream_id` up to `as_of` and the state its aggregate rebuilds."""
    async with open_store(url) as store, store.transaction() as tx:
        events = EventStore(tx)
        head = await events.version(stream_id)
        if head == 0:
            raise StreamNotFound(f"stream {stream_id!r} has no events in {store.url}")
        recorded = await events.read(stream_id, as_of=as_of)
    aggregate = aggregate_for_stream(stream_id)
    if aggregate is None:
        return StreamView(stream_id, head, recorded, None, None)
    rebuilt = aggregate.from_events(aggregate.id_of(stream_id), (r.event for r in recorded))
    return StreamView(
        stream_id, head, recorded, aggregate.__name__, rebuilt.state.model_dump(mode="json")
    )


@stream_app.command("show")
def show(
    stream_id: Annotated[str, typer.Argument(help="The stream, e.g. order-42.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Stop at this stream version, or at this time (ISO 8601, UTC if no zone).",
        ),
    ] = None,
    as_json: Json = False,
    store: StoreOption = None,
    handlers: Handlers = None,
) -> None:
    """Print the events of a stream and the state they rebuild (at --as-of)."""
    point = None if as_of is None else parse_as_of(as_of)
    load_handlers(handlers)
    view = asyncio.run(read_stream(project_store(open_project(store=store)), stream_id, point))
    if as_json:
        typer.echo(orjson.dumps(view.as_json(point), option=orjson.OPT_INDENT_2).decode())
        return
    console = Console()
    where = f"version {view.version} of {view.head}"
    if point is not None:
        where += f", as of {point.isoformat() if isinstance(point, datetime) else point}"
    table = Table(title=f"stream {stream_id} ({where})", title_justify="left")
    for column in ("#", "position", "recorded at (UTC)", "type", "v"):
        table.add_column(column, no_wrap=True)
    table.add_column("payload", overflow="fold")
    for r in view.events:
        table.add_row(
            str(r.version),
            str(r.position),
            r.recorded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            r.type,
            str(r.schema_version),
            orjson.dumps(r.event.model_dump(mode="json")).decode(),
        )
    console.print(table)
    if view.state is None:
        console.print(f"no aggregate is registered for stream {stream_id!r}: events only")
        return
    console.print(f"state of {view.aggregate} at version {view.version}:")
    console.print_json(orjson.dumps(view.state).decode())


def _projection(name: str) -> type[Projection]:
    known = registered_projections()
    projection = known.get(name)
    if projection is None:
        names = ", ".join(sorted(known)) or "none"
        raise UnknownProjection(f"no projection named {name!r} (known: {names})")
    return projection


async def _drive(url: str, name: str, action: str) -> ProjectionRecord:
    store = open_store(url)
    runner = ProjectionRunner(store, _projection(name)())
    async with store:
        return await (runner.rebuild() if action == "rebuild" else runner.resume())


def _report(record: ProjectionRecord, done: str) -> None:
    if record.status == "parked":
        typer.echo(f"projection {record.name} is parked: {record.reason}", err=True)
        raise typer.Exit(EXIT_PARKED)
    typer.echo(f"projection {record.name} {done}: checkpoint at position {record.position}")


ProjectionName = Annotated[str, typer.Argument(help="The projection's name, e.g. orders.")]


@projection_app.command("rebuild")
def rebuild(name: ProjectionName, store: StoreOption = None, handlers: Handlers = None) -> None:
    """Empty a read model and rebuild it from the start of the event log."""
    _run_projection(name, store, handlers, "rebuild")


@projection_app.command("resume")
def resume(name: ProjectionName, store: StoreOption = None, handlers: Handlers = None) -> None:
    """Un-park a projection at its checkpoint (once its cause is fixed) and catch up."""
    _run_projection(name, store, handlers, "resume")


def _run_projection(name: str, store: str | None, handlers: str | None, action: str) -> None:
    load_handlers(handlers)
    _projection(name)
    done = "rebuilt" if action == "rebuild" else "resumed"
    _report(asyncio.run(_drive(project_store(open_project(store=store)), name, action)), done)


async def projection_states(url: str) -> list[tuple[ProjectionRecord, bool]]:
    """Every registered projection's checkpoint, and whether it has caught up."""
    async with open_store(url) as store, store.transaction() as tx:
        rows = []
        for name in sorted(registered_projections()):
            record = await tx.projection_get(name)
            behind = bool(await tx.events_after(record.position, 1))
            rows.append((record, not behind))
        return rows


@projection_app.command("status")
def status(
    as_json: Json = False,
    store: StoreOption = None,
    handlers: Handlers = None,
) -> None:
    """Show each projection's checkpoint, whether it is parked, and why."""
    load_handlers(handlers)
    rows = asyncio.run(projection_states(project_store(open_project(store=store))))
    if as_json:
        payload = [
            {
                "name": r.name,
                "position": r.position,
                "status": r.status,
                "caught_up": caught_up,
                "failures": r.failures,
                "reason": r.reason,
            }
            for r, caught_up in rows
        ]
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title="projections", title_justify="left")
    for column in ("name", "position", "status", "caught up", "failures"):
        table.add_column(column, no_wrap=True)
    for r, caught_up in rows:
        table.add_row(
            r.name, str(r.position), r.status, "yes" if caught_up else "no", str(r.failures)
        )
    Console().print(table)
    # reasons are long: whole lines under the table, never folded into a cell
    for r, _ in rows:
        if r.reason:
            typer.echo(f"{r.name} {'parked' if r.status == 'parked' else 'failing'}: {r.reason}")
