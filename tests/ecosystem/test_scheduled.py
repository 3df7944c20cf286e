"""Scheduled sends: later, durably (a daemon restart in between), once, and listed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import eco_services
import pytest
from eco_services import EcoRemind, EcoStart, echo
from live_services import postgres_schema, postgres_unreachable
from support.broker import TestBroker as Broker
from support.buses import BusFactory

from bus.errors import Unroutable
from bus.settings import Settings
from bus.store import Store, open_store
from bus.unitofwork.scheduled import (
    STATE_NAMESPACE,
    ScheduledSends,
    pending,
    release,
    release_scheduled,
)
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from bus.wire.schedule import due_time, encode, scheduled
from bus.wire.transport import Outcome, Publication, WireMessage

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clear_received() -> None:
    eco_services.received.clear()


def arrivals(type_name: str) -> list[tuple[str, str, datetime]]:
    return [r for r in eco_services.received if r[0] == type_name]


async def waiting(store: Store) -> int:
    async with store.transaction() as tx:
        return len(await pending(tx))


async def backlog_is_empty(store: Store) -> bool:
    async with store.transaction() as tx:
        return await tx.outbox_backlog() == 0


async def test_a_delayed_command_arrives_after_its_delay_once(
    make_bus: BusFactory, settings: Settings, store: Store, eventually
) -> None:
    await make_bus([echo, ScheduledSends()], background=[release_scheduled])
    async with BusClient(settings) as client:
        sent_at = datetime.now(UTC)
        envelope = await client.send(EcoRemind(note="later"), delay=1.5)
    await eventually(lambda: arrivals("EcoRemind"), timeout=15, what="the delayed command")
    [(_, note, when)] = arrivals("EcoRemind")
    assert note == "later"
    assert when - sent_at >= timedelta(seconds=1.5)
    assert await waiting(store) == 0
    assert envelope.type == "EcoRemind"


async def test_a_scheduled_send_survives_a_daemon_restart(
    make_bus: BusFactory, settings: Settings, store: Store, eventually
) -> None:
    first = await make_bus([echo, ScheduledSends()], background=[release_scheduled])
    async with BusClient(settings) as client:
        envelope = await client.send(
            EcoRemind(note="durable"), at=datetime.now(UTC) + timedelta(hours=1)
        )
    await eventually(lambda: waiting(store), timeout=10, what="the message is stored")
    await first.stop()
    assert await waiting(store) == 1
    assert arrivals("EcoRemind") == []
    # while no daemon runs, the message falls due (its due time is moved, not waited for)
    async with store.transaction() as tx:
        kept = await tx.state_get(STATE_NAMESPACE, envelope.message_id)
        assert kept is not None
        await tx.state_put(
            STATE_NAMESPACE, envelope.message_id, {**kept, "due": datetime.now(UTC).isoformat()}
        )
    await make_bus([echo, ScheduledSends()], background=[release_scheduled])
    await eventually(lambda: arrivals("EcoRemind"), timeout=15, what="the message after restart")
    await eventually(lambda: backlog_is_empty(store), timeout=10, what="the outbox is sent")
    assert await waiting(store) == 0
    assert [r[1] for r in arrivals("EcoRemind")] == ["durable"]


async def test_a_handler_schedules_with_ctx_send_delay(
    make_bus: BusFactory, settings: Settings, eventually
) -> None:
    await make_bus([echo, ScheduledSends()], background=[release_scheduled])
    async with BusClient(settings) as client:
        await client.send(EcoStart(note="from-handler", delay=1.0))
    await eventually(lambda: arrivals("EcoRemind"), timeout=15, what="the scheduled reminder")
    [(_, _, started)] = arrivals("EcoStart")
    [(_, note, reminded)] = arrivals("EcoRemind")
    assert note == "from-handler"
    assert reminded - started >= timedelta(seconds=1.0)


async def test_without_a_scheduler_a_scheduled_send_is_refused(
    make_bus: BusFactory, settings: Settings
) -> None:
    await make_bus([echo])
    async with BusClient(settings) as client:
        with pytest.raises(Unroutable, match=r"sagabus\.ScheduleMessage"):
            await client.send(EcoRemind(note="nobody keeps it"), delay=1)


async def test_concurrent_releases_send_a_due_message_once(store: Store) -> None:
    envelope = Envelope.of(EcoRemind(note="once"))
    request = scheduled(envelope, datetime.now(UTC) - timedelta(seconds=1))
    async with store.transaction() as tx:
        await ScheduledSends().handle(request, _Context(tx))  # type: ignore[arg-type]
    counts = await asyncio.gather(*(release(store) for _ in range(4)))
    assert sum(counts) == 1
    async with store.transaction() as tx:
        rows = await tx.outbox_pending()
    assert [e.message_id for _, e in rows] == [envelope.message_id]


async def test_two_daemons_on_one_postgres_store_release_a_message_once() -> None:
    reason = await postgres_unreachable()
    if reason:
        pytest.skip(reason)
    envelopes = [Envelope.of(EcoRemind(note=f"pg-{i}")) for i in range(20)]
    async with (
        postgres_schema("sched") as url,
        open_store(url) as first,
        open_store(url) as second,
    ):
        async with first.transaction() as tx:
            for envelope in envelopes:
                request = scheduled(envelope, datetime.now(UTC) - timedelta(seconds=1))
                await ScheduledSends().handle(request, _Context(tx))  # type: ignore[arg-type]
        counts = await asyncio.gather(
            *(release(store) for store in (first, second, first, second))
        )
        async with first.transaction() as tx:
            rows = await tx.outbox_pending()
    assert sum(counts) == len(envelopes)
    assert sorted(e.message_id for _, e in rows) == sorted(e.message_id for e in envelopes)


async def test_a_schedule_request_with_a_naive_due_time_is_dead_lettered_at_once(
    make_bus: BusFactory, broker: Broker, settings: Settings, store: Store, eventually
) -> None:
    await make_bus([echo, ScheduledSends()], background=[release_scheduled])
    envelope = encode(Envelope.of(EcoRemind(note="naive")))
    request = Envelope(
        type="sagabus.ScheduleMessage", kind="command",
        payload={"due": "2030-01-01T00:00:00", "envelope": envelope},
    )
    [outcome] = await broker.transport.publish([Publication(
        broker.names.commands, request.type, WireMessage.of(request), mandatory=True,
    )])
    assert outcome is Outcome.CONFIRMED
    dlq = broker.names.dlq(broker.names.queue("sagabus-scheduler"))
    await eventually(lambda: broker.transport.queue_depth(dlq), timeout=10, what="a dead letter")
    assert await waiting(store) == 0


def test_due_time_takes_delay_or_an_aware_at() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert due_time(delay=5, at=None, now=now) == now + timedelta(seconds=5)
    assert due_time(delay=None, at=None) is None
    with pytest.raises(ValueError, match="naive"):
        due_time(delay=None, at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="not both"):
        due_time(delay=1, at=now)


async def test_sagabus_scheduled_lists_what_waits(
    make_bus: BusFactory, settings: Settings, store: Store, eventually
) -> None:
    await make_bus([echo, ScheduledSends()], background=[release_scheduled])
    async with BusClient(settings) as client:
        envelope = await client.send(EcoRemind(note="listed"), delay=3600)
    await eventually(lambda: waiting(store), timeout=10, what="the message is stored")
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "sagabus.cli", "scheduled", "--store", settings.store],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "SAGABUS_NAMESPACE": settings.namespace},  # the bus's own store
    )
    assert envelope.message_id in out.stdout
    assert "EcoRemind" in out.stdout


class _Context:
    """The two things ScheduledSends.handle reads from its context."""

    def __init__(self, tx: object) -> None:
        self.tx = tx
        self.contract = None
        self.log = _Silent()


class _Silent:
    def info(self, *args: object, **kwargs: object) -> None:
        pass
