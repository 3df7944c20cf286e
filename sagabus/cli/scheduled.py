"""`sagabus scheduled`: the messages waiting in the store to be sent later."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.store import open_store
from bus.unitofwork.scheduled import ScheduledMessage, pending
from sagabus.cli.app import app
from sagabus.cli.options import StoreUrl
from sagabus.project import open_project, project_store


@app.command("scheduled")
def scheduled(
    store: StoreUrl = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to show, at most.")] = 100,
) -> None:
    """List scheduled messages (ctx.send / client.send with delay or at), soonest first."""
    url = project_store(open_project(store=store))
    waiting = asyncio.run(_pending(url))
    if not waiting:
        typer.echo("no scheduled messages")
        return
    typer.echo(f"{'DUE (UTC)':<26} {'KIND':<7} {'TYPE':<28} {'MESSAGE ID':<36} CORRELATION")
    for entry in waiting[:limit]:
        e = entry.envelope
        typer.echo(
            f"{entry.due.isoformat(timespec='seconds'):<26} {e.kind:<7} {e.type:<28}"
            f" {e.message_id:<36} {e.correlation_id or '-'}"
        )
    if len(waiting) > limit:
        typer.echo(f"... and {len(waiting) - limit} more")


async def _pending(url: str) -> list[ScheduledMessage]:
    async with open_store(url) as store, store.transaction() as tx:
        return await pending(tx)
