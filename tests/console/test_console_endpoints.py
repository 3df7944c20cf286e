"""The overview's endpoints on the real RabbitMQ: each endpoint queue's ready
messages, consumers, dead letters and the messages for it still in the outbox,
refreshed with the rest of the overview; a broker that cannot be read is said, without
its credentials (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from console_support import console_client, order_machines
from live_services import AMQP_URL, rabbitmq_unreachable
from test_console_serving import free_port

from bus.store import Store
from bus.wire.envelope import Envelope
from sagabus.console.dead_letters import BrokerDeadLetters


@pytest.fixture
async def channel() -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    reason = await rabbitmq_unreachable()
    if reason is not None:
        pytest.skip(reason)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


async def ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    """A consumer that takes nothing (its queue stays empty)."""


def row(page: str, queue: str) -> list[str]:
    """The cells of `queue`'s row in the endpoints table."""
    found = re.search(rf"<tr><td>{re.escape(queue)}</td>(.*?)</tr>", page)
    assert found is not None, page
    return re.findall(r"<td[^>]*>([^<]*)</td>", found.group(1))


async def test_the_overview_shows_each_endpoint_ready_consumers_and_dead_letters(
    store: Store, channel: aio_pika.abc.AbstractChannel
) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}"
    payments, orders = f"{prefix}.payments", f"{prefix}.orders"
    queues = [await channel.declare_queue(name)
              for name in (payments, f"{payments}.dlq", orders)]  # fmt: skip
    try:
        for _ in range(3):
            await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=orders)
        for _ in range(2):
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}"), routing_key=f"{payments}.dlq"
            )
        tags = [await queues[0].consume(ignore) for _ in range(2)]
        async with store.transaction() as tx:  # unsent: 2 ChargeCard, 1 OrderPlaced
            placed = await tx.outbox_add([
                Envelope(type="ChargeCard", kind="command", payload={}),
                Envelope(type="ChargeCard", kind="command", payload={}),
                Envelope(type="OrderPlaced", kind="event", payload={}),
                Envelope(type="OrderPlaced", kind="event", payload={}),
            ])
            await tx.outbox_mark_sent(placed[3:])
        bindings = {payments: frozenset({"ChargeCard", "OrderPlaced"}),
                    orders: frozenset({"OrderPlaced"})}  # fmt: skip
        source = BrokerDeadLetters(
            AMQP_URL, [f"{payments}.dlq"], [payments, orders, f"{prefix}.missing"], bindings
        )
        async with console_client(store, order_machines(), dead_letters=source) as client:
            page = await client.get("/")
            await queues[0].cancel(tags[0])
            again = await client.get("/")
    finally:
        for declared in queues:
            await declared.delete(if_unused=False, if_empty=False)
    assert page.status_code == 200
    live = page.text.split('id="live"', 1)[1]
    assert "<h2>Endpoints</h2>" in live
    assert row(page.text, payments) == ["0", "2", "2", "3"]
    assert row(page.text, orders) == ["3", "0", "", "1"]
    assert row(page.text, f"{prefix}.missing") == ["(no such queue)", "0"]
    assert row(again.text, payments) == ["0", "1", "2", "3"]


async def test_an_unreachable_broker_is_said_on_the_overview(store: Store) -> None:
    url = f"amqp://guest:secret-pw@127.0.0.1:{free_port()}/"  # nothing listens there
    source = BrokerDeadLetters(url, ["x.payments.dlq"], ["x.payments"])
    async with console_client(store, order_machines(), dead_letters=source) as client:
        page = await client.get("/")
    assert page.status_code == 200
    assert "The broker could not be read" in page.text and "secret-pw" not in page.text
