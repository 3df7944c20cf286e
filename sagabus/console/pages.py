"""The console's pages: overview, instances, one instance, dead letters (the actions
are in `actions`).

Each handler reads in one store transaction and renders one template; the values it
passes are plain data, escaped by the templates (autoescape is on for all of them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from bus.errors import SagabusError
from bus.eventsourcing import linked_streams
from bus.store.browse import MAX_PAGE, BadCursor, CensusRow, SagaFilter, saga_census, saga_page
from bus.store.filters import STATUSES, BadFilter, filter_values, saga_filter
from bus.store.throughput import WINDOW_MINUTES, saga_throughput
from bus.wire.envelope import utcnow
from saga_dsl.engine.operations import ACTIONS
from sagabus.console.dead_letters import EndpointQueue, age_text
from sagabus.console.graphs import census_graph, path_graph
from sagabus.console.rates import by_version, sparkline
from sagabus.console.streams import moment_of, stream_as_of
from sagabus.step_effects import sent_and_published

if TYPE_CHECKING:
    from sagabus.console.app import ConsoleContext

PAGE_SIZE = 50


@dataclass
class SagaCensus:
    """One saga on the overview: its counts by status, its rows, its graph."""

    saga: str
    rows: list[CensusRow] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    graph: str | None = None
    graph_version: int | None = None

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    context = _context(request)
    page = context.templates.get_template(template)
    session = context.guard.session(request)
    return HTMLResponse(
        page.render(request=request, session=session, **values), status_code=status_code
    )


async def overview(request: Request) -> Response:
    context = _context(request)
    async with context.store.transaction() as tx:
        census = await saga_census(tx)
        backlog_by_type = await tx.outbox_backlog_by_type()
        versions = [(row.saga, row.definition_version) for row in census]
        flows = await saga_throughput(tx, versions, utcnow())
    sagas: dict[str, SagaCensus] = {}
    for name in context.machines:
        sagas[name] = SagaCensus(name)
    for row in census:
        entry = sagas.setdefault(row.saga, SagaCensus(row.saga))
        entry.rows.append(row)
        entry.by_status[row.status] = entry.by_status.get(row.status, 0) + row.count
    for entry in sagas.values():
        machine = context.machines.get(entry.saga)
        if machine is not None:
            counts: dict[str, int] = defaultdict(int)
            for row in entry.rows:
                counts[row.state] += row.count
            entry.graph = census_graph(machine, counts)
            entry.graph_version = machine.version
    endpoints, broker_error = await _endpoints(context)
    return render(
        request,
        "overview.html",
        sagas=sorted(sagas.values(), key=lambda s: s.saga),
        parked=sum(s.by_status.get("parked", 0) for s in sagas.values()),
        backlog=sum(backlog_by_type.values()),
        backlog_by_type=backlog_by_type,
        endpoints=endpoints,
        broker_error=broker_error,
        rates=by_version(flows),
        window=WINDOW_MINUTES,
        sparkline=sparkline,
    )


async def _endpoints(context: ConsoleContext) -> tuple[list[EndpointQueue] | None, str | None]:
    """The endpoint queues as the broker has them, or why they cannot be read (None,
    None without a broker)."""
    if context.dead_letters is None:
        return None, None
    try:
        return await context.dead_letters.endpoints(), None
    except SagabusError as exc:  # the broker is down or refuses: say so on the page
        return None, str(exc)


def _filter(request: Request) -> tuple[SagaFilter, str | None, int]:
    """The filter, cursor and page size of a list request; 400 on a bad value."""
    query = request.query_params
    try:
        where = saga_filter(query)
    except BadFilter as exc:
        raise HTTPException(400, str(exc)) from None
    text = query.get("limit", "").strip()
    if text and not text.isdigit():
        raise HTTPException(400, "version and limit are whole numbers")
    limit = int(text or PAGE_SIZE)
    if not 1 <= limit <= MAX_PAGE:
        raise HTTPException(400, f"limit must be within 1..{MAX_PAGE}")
    return where, query.get("after", "").strip() or None, limit


async def instances(request: Request) -> Response:
    where, after, limit = _filter(request)
    context = _context(request)
    try:
        async with context.store.transaction() as tx:
            page = await saga_page(tx, where, after=after, limit=limit)
    except BadCursor:
        raise HTTPException(400, "that page cursor is not one this console made") from None
    filters = filter_values(where)
    next_query = None
    if page.next_cursor is not None:
        kept = {k: v for k, v in filters.items() if v}
        next_query = {**kept, "limit": str(limit), "after": page.next_cursor}
    return render(
        request,
        "instances.html",
        page=page,
        filters=filters,
        statuses=STATUSES,
        sagas=sorted(context.machines),
        next_query=next_query,
        continued=after is not None,
        actions=ACTIONS,
    )


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


async def instance(request: Request) -> Response:
    context = _context(request)
    instance_id = request.path_params["instance_id"]
    async with context.store.transaction() as tx:
        record = await tx.saga_get(instance_id)
        if record is None:
            raise HTTPException(404, "no saga instance has this id")
        history = await tx.history(record.id)
        timers = await tx.timers_of(record.id)
        streams = await linked_streams(tx, record.correlation)
    steps = [
        {
            "row": row,
            "shown": sent_and_published(row.effects),
        }
        for row in history
    ]
    machine = context.machines.get(record.saga)
    graph = None
    if machine is not None:
        moves = [(row.from_state, row.to_state) for row in history]
        graph = path_graph(machine, moves, record.state)
    return render(
        request,
        "instance.html",
        record=record,
        data=pretty(record.data),
        machine_state=pretty(record.machine),
        steps=steps,
        timers=timers,
        streams=streams,
        graph=graph,
        graph_version=machine.version if machine is not None else None,
    )


async def stream(request: Request) -> Response:
    stream_id = request.path_params["stream_id"]
    text = request.query_params.get("as_of", "").strip()
    if text and not text.isdigit():
        raise HTTPException(400, "as_of is a stream version: a whole number")
    at = None
    if when := request.query_params.get("at", "").strip():
        try:
            at = moment_of(when)
        except ValueError:
            raise HTTPException(400, "at is an ISO 8601 time, e.g. 2030-01-31T12:00:00Z") from None
    async with _context(request).store.transaction() as tx:
        view = await stream_as_of(tx, stream_id, int(text) if text else None, at)
    if view is None:
        raise HTTPException(404, "this stream has no events")
    events = [
        {"recorded": r, "payload": orjson.dumps(r.event.model_dump(mode="json")).decode()}
        for r in view.events
    ]
    state = None if view.state is None else pretty(view.state)
    return render(request, "stream.html", view=view, events=events, state=state)


async def dead_letters(request: Request) -> Response:
    context = _context(request)
    source = context.dead_letters
    async with context.store.transaction() as tx:
        backlog_by_type = await tx.outbox_backlog_by_type()
    try:
        view = await source.read() if source is not None else None
    except SagabusError as exc:  # the broker is down or refuses: say so on the page
        return render(request, "dead_letters.html", view=None, error=str(exc), age=age_text,
                      backlog_by_type=backlog_by_type)
    return render(request, "dead_letters.html", view=view, error=None, age=age_text,
                  backlog_by_type=backlog_by_type)


async def not_found(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, HTTPException) else "not found"
    return render(request, "error.html", status_code=404, title="Not found", detail=detail)


async def bad_request(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, HTTPException) else "bad request"
    return render(request, "error.html", status_code=400, title="Bad request", detail=detail)


async def not_allowed(request: Request, exc: Exception) -> Response:
    if request.method == "POST":  # a read-only page, or a console without actions
        detail = (
            "this page takes no action"
            if _context(request).guard.actions
            else (
                "this console is read-only: start it with SAGABUS_CONSOLE_TOKEN set to allow "
                "actions"
            )
        )
        return render(request, "error.html", status_code=403, title="Refused", detail=detail)
    return render(
        request,
        "error.html",
        status_code=405,
        title="Method not allowed",
        detail="this address takes a form",
    )


async def asyncapi(request: Request) -> Response:
    """The AsyncAPI 3.0 document of the daemon's services and sagas."""
    document = _context(request).asyncapi
    if document is None:
        raise HTTPException(404, "this console serves no AsyncAPI document")
    return JSONResponse(document)
