"""`sagabus status ID` and `sagabus list`: where saga instances stand, with history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, get_args

import orjson
import typer

from bus.errors import SagabusError
from bus.store import HistoryRecord, SagaRecord, TimerRecord, open_store
from bus.store.base import SagaStatus
from sagabus.cli.app import app
from sagabus.cli.options import Json, StoreUrl
from sagabus.project import open_project, project_store
from sagabus.step_effects import sent_and_published

STATUSES: tuple[str, ...] = get_args(SagaStatus)


class InstanceNotFound(SagabusError):
    """No saga instance has this id or correlation value."""


@app.command()
def status(
    instance: Annotated[str, typer.Argument(help="Instance id, or its correlation value.")],
    store: StoreUrl = None,
    json: Json = False,
) -> None:
    """Show one saga instance: state, data, timers and its whole history."""
    url = project_store(open_project(store=store))
    view = asyncio.run(_status(url, instance))
    if json:
        typer.echo(
            orjson.dumps(
                {
                    "instance": _record_json(view.record),
                    "timers": [_timer_json(t) for t in view.timers],
                    "history": [_history_json(h) for h in view.history],
                    "streams": view.streams,
                },
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
        return
    _print_status(view)


@app.command("list")
def list_instances(
    saga: Annotated[str | None, typer.Option("--saga", help="Only this saga.")] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only this state, or status (running, parked, ...)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    store: StoreUrl = None,
    json: Json = False,
) -> None:
    """List saga instances, newest first."""
    url = project_store(open_project(store=store))
    records = asyncio.run(_list(url, saga, state, limit))
    if json:
        typer.echo(
            orjson.dumps([_record_json(r) for r in records], option=orjson.OPT_INDENT_2).decode()
        )
        return
    from rich.console import Console  # only for people: --json goes without rich
    from rich.table import Table

    table = Table("instance", "saga", "correlation", "state", "status", "updated", "reason")
    for r in records:
        table.add_row(
            r.id, f"{r.saga} v{r.definition_version}", r.correlation, r.state, r.status,
            _when(r.updated_at), r.reason or "",
        )
    Console().print(table)


@dataclass(frozen=True)
class InstanceView:
    record: SagaRecord
    timers: list[TimerRecord]
    history: list[HistoryRecord]
    streams: list[str]


async def _status(url: str, key: str) -> InstanceView:
    async with open_store(url) as store, store.transaction() as tx:
        record = await tx.saga_get(key)
        if record is None:  # a correlation value: the first saga's instance with it
            record = next(iter(await tx.saga_with_correlation(key)), None)
        if record is None:
            raise InstanceNotFound(f"no saga instance has id or correlation {key!r}")
        return InstanceView(
            record,
            await tx.timers_of(record.id),
            await tx.history(record.id),
            await tx.linked_streams(record.correlation),
        )


async def _list(url: str, saga: str | None, state: str | None, limit: int) -> list[SagaRecord]:
    async with open_store(url) as store, store.transaction() as tx:
        if state in STATUSES:
            return await tx.saga_list(saga=saga, status=state, limit=limit)  # type: ignore[arg-type]
        return await tx.saga_list(saga=saga, state=state, limit=limit)


def _print_status(view: InstanceView) -> None:
    from rich.console import Console  # only for people: --json goes without rich
    from rich.table import Table

    record = view.record
    console = Console()
    console.print(f"[bold]{record.saga}[/] v{record.definition_version}  instance {record.id}")
    console.print(f"correlation  {record.correlation}")
    console.print(f"state        [bold]{record.state}[/] ({record.status})")
    if record.reason:
        console.print(f"reason       [yellow]{record.reason}[/]")
    console.print(f"data         {orjson.dumps(record.data).decode()}")
    for timer in view.timers:
        console.print(f"timer        {timer.name} due {_when(timer.due_at)}")
    for stream in view.streams:
        console.print(f"stream       {stream} (sagabus stream show {stream})")
    table = Table("time", "input", "from -> to", "sent / published", title="history")
    for row in view.history:
        shown = sent_and_published(row.effects)
        table.add_row(
            row.at.strftime("%H:%M:%S.%f")[:-3], row.input,
            f"{row.from_state or '(start)'} -> {row.to_state}", ", ".join(shown),
        )
    console.print(table)


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="milliseconds") if at else ""


def _record_json(r: SagaRecord) -> dict[str, Any]:
    return {
        "id": r.id, "saga": r.saga, "version": r.definition_version,
        "correlation": r.correlation, "state": r.state, "status": r.status, "data": r.data,
        "reason": r.reason, "created_at": _when(r.created_at), "updated_at": _when(r.updated_at),
    }


def _timer_json(t: TimerRecord) -> dict[str, Any]:
    return {"name": t.name, "due_at": _when(t.due_at)}


def _history_json(h: HistoryRecord) -> dict[str, Any]:
    return {
        "seq": h.seq, "at": _when(h.at), "input": h.input, "message_id": h.message_id,
        "from": h.from_state, "to": h.to_state, "effects": h.effects,
    }
