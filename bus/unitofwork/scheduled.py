"""The scheduler: keeps scheduled messages in the store and sends them when due.

Two halves, both served by the daemon (`bus.daemon.serve`):

- `ScheduledSends`, an endpoint (queue `sagabus-scheduler`) that handles
  `sagabus.ScheduleMessage` by writing the message and its due time into the store, in
  the same unit of work as its inbox row: a schedule request delivered twice is stored
  once, and a stored message survives any restart;
- `release_scheduled`, a background task that, every `RELEASE_INTERVAL` seconds, moves
  the due messages from the store into the outbox in one transaction (each row is
  locked before it is deleted, so with PostgreSQL several daemons never release one
  message twice) and wakes the relay.

Messages are kept under the state namespace `STATE_NAMESPACE`, keyed by message_id;
`pending` lists them (`sagabus scheduled`). Every poll reads the whole list, which
suits thousands of pending messages, not millions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bus.observability.logging import get_logger
from bus.store.base import Store, Transaction
from bus.unitofwork.retry import RetryPolicy
from bus.wire.envelope import Envelope, utcnow
from bus.wire.schedule import SCHEDULE_TYPE, ScheduleMessage, decode

if TYPE_CHECKING:
    from bus.unitofwork.endpoint import HandlerContext
    from bus.unitofwork.runtime import Bus

SCHEDULER_ENDPOINT = "sagabus-scheduler"
STATE_NAMESPACE = "sagabus.scheduled"
RELEASE_INTERVAL = 0.5
"""Seconds between two looks for due messages: the lateness of a release, at most."""
RELEASE_BATCH = 500
"""Messages released in one transaction, at most."""

log = get_logger("sagabus.scheduler")


@dataclass(frozen=True, slots=True)
class ScheduledMessage:
    """A message waiting in the store for `due`."""

    due: datetime
    envelope: Envelope


class ScheduledSends:
    """The endpoint that stores schedule requests (see the module docstring)."""

    name = SCHEDULER_ENDPOINT
    commands = frozenset({SCHEDULE_TYPE})
    events: frozenset[str] = frozenset()
    retry = RetryPolicy()

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        request = ctx.contract
        if not isinstance(request, ScheduleMessage):
            request = ScheduleMessage.model_validate(message.payload)
        encoded = request.envelope.model_dump(mode="json")
        inner = decode(encoded)
        await ctx.tx.state_put(
            STATE_NAMESPACE,
            inner.message_id,
            {"due": request.due.isoformat(), "envelope": encoded},
        )
        ctx.log.info("message scheduled", scheduled_type=inner.type,
                     scheduled_id=inner.message_id, due=request.due.isoformat())


def _entry(value: dict[str, Any]) -> ScheduledMessage:
    return ScheduledMessage(datetime.fromisoformat(value["due"]), decode(value["envelope"]))


async def pending(tx: Transaction) -> list[ScheduledMessage]:
    """Every message waiting to be sent, soonest first."""
    entries = [_entry(value) for _, value in await tx.state_list(STATE_NAMESPACE)]
    return sorted(entries, key=lambda e: e.due)


async def release(store: Store, now: datetime | None = None) -> int:
    """Moves the messages due at `now` into the outbox; returns how many."""
    moment = now or utcnow()
    async with store.transaction() as tx:
        rows = await tx.state_list(STATE_NAMESPACE)
        due = [key for key, value in rows if datetime.fromisoformat(value["due"]) <= moment]
        envelopes: list[Envelope] = []
        for key in due[:RELEASE_BATCH]:
            value = await tx.state_get(STATE_NAMESPACE, key, for_update=True)
            if value is None:
                continue  # another daemon released it
            await tx.state_delete(STATE_NAMESPACE, key)
            envelopes.append(decode(value["envelope"]))
        if envelopes:
            await tx.outbox_add(envelopes)
    return len(envelopes)


async def release_scheduled(bus: Bus) -> None:
    """Background task: releases due messages until cancelled."""
    while True:
        try:
            released = await release(bus.store)
        except Exception as exc:
            log.warning("releasing scheduled messages failed; trying again", error=str(exc))
            released = 0
        if released:
            log.info("scheduled messages released", count=released)
            bus.relay.notify()
        await asyncio.sleep(RELEASE_INTERVAL)
