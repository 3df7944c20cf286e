"""Every message delivered twice: the order saga ends the same, and the services' side
effects are counted once (inbox deduplication on every endpoint, the saga's included)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from engine_support import (
    AMQP_URL,
    Broker,
    DuplicatingTransport,
    all_finished,
    assert_outcomes,
    create_order,
    dead_letters,
    history,
    plan,
    sends,
    serving,
    side_effects,
)

from bus.client import BusClient
from bus.endpoint import Endpoint
from bus.rabbitmq import RabbitMQTransport
from bus.settings import Settings
from bus.store import Store
from bus.topology import Names

pytestmark = pytest.mark.integration


async def test_every_message_delivered_twice_changes_nothing(
    broker: Broker, settings: Settings, store: Store, sagas: Path, endpoints: list[Endpoint]
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
    for record in records.values():
        steps = await history(store, record)
        caused = Counter(step.message_id for step in steps if step.message_id)
        assert set(caused.values()) == {1}, f"a message moved {record.correlation} twice"
        assert sends(steps, "ProcessPayment") == 1
    assert await dead_letters(settings, endpoints) == {}
