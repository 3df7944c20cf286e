"""A batch runs without savepoints until a handler raises: then the failing delivery is
set aside (retried or dead-lettered, as if its savepoint had been rolled back) and the
rest of the batch commits once, whatever the number of failures."""

from __future__ import annotations

from typing import Any

import pytest

from bus import Command, Event, HandlerContext, RetryPolicy, Service
from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.runtime import Bus
from bus.wire.envelope import Envelope
from bus.wire.memory import InMemoryTransport
from bus.wire.transport import Publication, WireMessage


class BfWork(Command):
    key: str


class BfDone(Event):
    key: str


batch = Service("bf_batch", retry=RetryPolicy(attempts=1))
RUNS: dict[str, int] = {}


@batch.handles(BfWork)
async def work(cmd: BfWork, ctx: HandlerContext) -> None:
    RUNS[cmd.key] = RUNS.get(cmd.key, 0) + 1
    if cmd.key.startswith("bad"):
        raise RuntimeError(f"{cmd.key} always fails")
    ctx.publish(BfDone(key=cmd.key))


async def count(store: Store, sql: str, *params: Any) -> int:
    async with store.transaction() as tx:
        rows = await tx.read_rows(sql, params)
    return int(rows[0][0])


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("bad", [1, 3], ids=["one failure", "past the fast tries"])
async def test_failing_handlers_leave_nothing_and_the_rest_commits_once(
    settings: Settings, store: Store, eventually: Any, bad: int
) -> None:
    RUNS.clear()
    keys = [f"bad-{n}" for n in range(bad)] + [f"good-{n}" for n in range(5)]
    keys.sort(key=lambda k: k[-1])  # failures among the good ones
    transport = InMemoryTransport()
    bus = Bus(settings, store, [batch], transport=transport)
    async with bus:
        queue = bus.names.queue(batch.name)
        await transport.publish(
            [Publication("", queue, WireMessage.of(Envelope.of(BfWork(key=k)))) for k in keys]
        )
        await eventually(
            lambda: transport.broker.queue_depth(bus.names.dlq(queue)) == bad,
            timeout=10, what="the failing deliveries dead-lettered",
        )
        await eventually(lambda: transport.broker.quiet, timeout=10, what="a quiet broker")
    assert await count(store, "SELECT count(*) FROM inbox WHERE endpoint = ?", queue) == 5
    assert await count(store, "SELECT count(*) FROM outbox WHERE type = ?", "BfDone") == 5
    assert all(RUNS[f"bad-{n}"] == 1 for n in range(bad)), RUNS
