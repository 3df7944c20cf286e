"""`sagabus send ... --follow`: the saga a command started, printed live until it ends.

The engine records, on each instance, the id of the message that caused its start
event (`started_by`); following a command means finding the instance it started and
printing every history row as it is written.
"""

from __future__ import annotations

import asyncio
import time

import typer

from bus.errors import SagabusError
from bus.store import HistoryRecord, SagaRecord, Store, open_store

POLL_INTERVAL = 0.1
SEARCH_DEPTH = 200
"""Newest instances looked at when searching the one a command started."""


class FollowTimedOut(SagabusError):
    """The followed saga did not start or end in time."""


async def follow_saga(store_url: str, message_id: str, limit: float) -> str:
    """Prints the transitions of the saga started by `message_id`; returns its final
    status (`completed`, `failed` or `parked`)."""
    deadline = time.monotonic() + limit
    async with open_store(store_url) as store:
        record = await _started_by(store, message_id, deadline)
        typer.echo(f"saga {record.saga} instance {record.id} ({record.correlation})")
        shown = 0
        while True:
            async with store.transaction() as tx:
                history = await tx.history(record.id)
                current = await tx.saga_get(record.id)
            for row in history[shown:]:
                typer.echo(_line(row))
            shown = len(history)
            if current is not None and current.status != "running":
                reason = f": {current.reason}" if current.reason else ""
                typer.echo(f"ended {current.state} ({current.status}){reason}")
                return current.status
            if time.monotonic() > deadline:
                raise FollowTimedOut(f"saga {record.id} still running after {limit:g}s")
            await asyncio.sleep(POLL_INTERVAL)


async def _started_by(store: Store, message_id: str, deadline: float) -> SagaRecord:
    while True:
        async with store.transaction() as tx:
            for record in await tx.saga_list(limit=SEARCH_DEPTH):
                if record.machine.get("started_by") == message_id:
                    return record
        if time.monotonic() > deadline:
            raise FollowTimedOut(
                f"no saga started from message {message_id}: is `sagabus run` running "
                "on this store, and does a saga start on what this command causes?"
            )
        await asyncio.sleep(POLL_INTERVAL)


def _line(row: HistoryRecord) -> str:
    sent = [
        f"{e['effect']} {e['type']}" for e in row.effects if e.get("effect") in ("send", "publish")
    ]
    tail = f"  [{', '.join(sent)}]" if sent else ""
    return (
        f"{row.at:%H:%M:%S.%f}"[:-3]
        + f"  {row.input}: {row.from_state or '(start)'} -> {row.to_state}{tail}"
    )
