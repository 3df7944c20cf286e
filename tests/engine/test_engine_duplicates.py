"""Every message delivered twice: the order saga ends the same, and the services' side
effects are counted once (inbox deduplication on every endpoint, the saga's included)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import asyncpg
import pytest
from engine_support import (
    AMQP_URL,
    COMPLETED,
    PG_URL,
    DuplicatingTransport,
    Eventually,
    Order,
    all_finished,
    assert_each_input_once,
    assert_outcomes,
    create_order,
    dead_letters,
    deliver,
    history,
    plan,
    sends,
    serving,
    side_effects,
)
from support.broker import TestBroker

import handlers.messages as m
from bus.settings import Settings
from bus.store import Store, open_store
from bus.unitofwork.endpoint import Endpoint
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names
from saga_dsl.engine.wiring import saga_runtime

pytestmark = pytest.mark.integration


async def test_every_message_delivered_twice_changes_nothing(
    broker: TestBroker, settings: Settings, store: Store, sagas: Path, endpoints: list[Endpoint]
) -> None:
    orders = plan(18, prefix="dup")
    transport = DuplicatingTransport(RabbitMQTransport(settings.amqp_url))

    def client() -> BusClient:
        return BusClient(settings, transport=DuplicatingTransport(RabbitMQTransport(AMQP_URL)))

    async with serving(settings, store, sagas, transport=transport):
        async with client() as placing:
            for order in orders:
                await placing.send(create_order(order))
        records = await all_finished(store, settings, orders, within=60, client=client)
    assert_outcomes(orders, records, await side_effects(store))

    saga_queue = Names(settings.namespace).queue("saga.order_processing")
    to_saga = Counter({
        message_id: n for (queue, message_id), n in transport.delivered.items()
        if queue == saga_queue
    })
    assert to_saga and min(to_saga.values()) >= 2, "every event reached the saga twice"
    await assert_each_input_once(store, records)
    for record in records.values():
        assert sends(await history(store, record), "ProcessPayment") == 1
    assert await dead_letters(settings, endpoints) == {}


class RecordingLog:
    """Stands in for a handler's logger; keeps the events it was given."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def info(self, event: str, **_: object) -> None:
        self.events.append(event)

    warning = error = debug = info


async def test_one_start_event_twice_at_once_makes_one_instance(
    store: Store, store_url: str, settings: Settings, sagas: Path, eventually: Eventually
) -> None:
    """Two OrderCreated for one order (different message ids, so no inbox catches it) in
    two transactions at once: the second finds the instance (SQLite serialises writers)
    or, on PostgreSQL, runs into the unique (saga, correlation) and is dropped."""
    [endpoint] = saga_runtime(sagas).endpoints
    order = Order("twice-1", COMPLETED)
    item = m.OrderItem(sku=order.path.sku, quantity=1, unit_price=order.path.amount)
    created = m.OrderCreated(order_id=order.order_id, customer_id="c", items=[item],
                             amount=order.path.amount)
    logs = (RecordingLog(), RecordingLog())
    sent: list[list[Envelope]] = [[], []]
    first_inserted = asyncio.Event()

    async def start(s: Store, n: int) -> None:
        async with s.transaction() as tx:
            sent[n] = await deliver(tx, endpoint, created, logs[n])
            if n == 0:
                first_inserted.set()
                if store_url.startswith("postgresql"):
                    await eventually(second_waits_for_the_first, 10)

    async def second_waits_for_the_first() -> bool:
        conn = await asyncpg.connect(PG_URL)
        try:
            return bool(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%INSERT INTO saga_instance%'"
            ))
        finally:
            await conn.close()

    async def then_start(s: Store) -> None:
        await first_inserted.wait()
        await start(s, 1)

    async with open_store(settings) as other:
        await asyncio.gather(start(store, 0), then_start(other))

    async with store.transaction() as tx:
        records = await tx.saga_list(saga="order_processing")
        assert [r.correlation for r in records] == [order.order_id]
        assert len(await tx.history(records[0].id)) == 1
    assert [e.type for e in sent[0]] == ["ProcessPayment"] and sent[1] == []
    if store_url.startswith("postgresql"):
        assert logs[1].events == ["start event for an existing instance: duplicate ignored"]
    else:
        assert logs[1].events == ["event not accepted in this state: ignored"]
