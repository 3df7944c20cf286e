"""One suite, two transports: what the bus relies on the broker for, checked on the
in-memory transport and on RabbitMQ itself, so the in-memory one cannot drift from the
real thing. The RabbitMQ runs are integration tests (skipped, saying why, when RabbitMQ
does not answer); each runs in a namespace of its own and deletes it afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from live_services import AMQP_URL
from support.broker import TestBroker, broker_for
from transport_support import consume, message, queue

from bus.errors import ConfigurationError
from bus.wire.memory import InMemoryBroker, InMemoryTransport
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import DEFAULT_EXCHANGE, Names, Topology, exchanges
from bus.wire.transport import NoSuchQueue, Outcome, Publication, WireMessage

Eventually = Callable[..., Awaitable[Any]]
AnyTransport = InMemoryTransport | RabbitMQTransport


@dataclass
class Wire:
    """A transport under test and its namespace; on RabbitMQ, the test's broker handle
    (`support.broker.TestBroker`), which deletes what the test declared."""

    kind: str
    names: Names
    transport: AnyTransport
    broker: InMemoryBroker | None
    test_broker: TestBroker | None = None

    def q(self, name: str) -> str:
        return self.names.queue(name)

    async def declare(self, topology: Topology) -> None:
        if self.test_broker is not None:
            await self.test_broker.declare(topology)
        else:
            await self.transport.declare(topology)

    async def publish_events(self, numbers: Iterable[int]) -> None:
        """Events `m-<n>` of type T, one for each of `numbers`, in order."""
        await self.transport.publish(
            [Publication(self.names.events, "T", message(n)) for n in numbers]
        )

    async def connection(self) -> AnyTransport:
        """Another connection to the same broker."""
        other: AnyTransport
        if self.broker is not None:
            other = InMemoryTransport(self.broker)
        else:
            other = RabbitMQTransport(AMQP_URL, name="sagabus-tests")
        await other.connect()
        return other


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.integration)])
async def wire(request: pytest.FixtureRequest) -> AsyncIterator[Wire]:
    names = Names(f"t{uuid.uuid4().hex[:10]}")
    if request.param == "rabbitmq":
        async with broker_for(names) as rabbit:
            yield Wire("rabbitmq", names, rabbit.transport, None, rabbit)
            # the test's consumers go with the connection; cleanup deletes on a new one
            await rabbit.transport.close()
        return
    memory = InMemoryTransport()
    await memory.connect()
    await memory.declare(exchanges(names))
    yield Wire("memory", names, memory, memory.broker)
    await memory.close()


async def test_a_command_reaches_only_the_queue_bound_to_its_type(
    wire: Wire, eventually: Eventually
) -> None:
    commands = wire.names.commands
    await wire.declare(queue(wire.q("payments"), commands, "ProcessPayment"))
    await wire.declare(queue(wire.q("shipping"), commands, "ShipOrder"))
    payments = await consume(wire.transport, wire.q("payments"), auto_ack=True)
    outcomes = await wire.transport.publish(
        [Publication(commands, "ProcessPayment", message(1), mandatory=True)]
    )
    assert outcomes == [Outcome.CONFIRMED]
    await eventually(lambda: payments.ids == ["m-1"], timeout=5)
    [delivery] = payments.got
    assert (delivery.exchange, delivery.routing_key, delivery.redelivered) == (
        commands, "ProcessPayment", False
    )
    assert await wire.transport.queue_depth(wire.q("shipping")) == 0


async def test_an_event_reaches_every_matching_queue_once(
    wire: Wire, eventually: Eventually
) -> None:
    events = wire.names.events
    await wire.declare(queue(wire.q("audit"), events, "#", "orders.created"))
    await wire.declare(queue(wire.q("orders"), events, "orders.*"))
    await wire.declare(queue(wire.q("billing"), events, "payments.#"))
    [outcome] = await wire.transport.publish([Publication(events, "orders.created", message(1))])
    assert outcome is Outcome.CONFIRMED

    async def depths() -> list[int]:
        return [await wire.transport.queue_depth(wire.q(n)) for n in ("audit", "orders", "billing")]

    async def delivered() -> bool:
        return await depths() == [1, 1, 0]

    await eventually(delivered, timeout=5)


async def test_unroutable_publications_come_back_only_when_mandatory(wire: Wire) -> None:
    outcomes = await wire.transport.publish(
        [
            Publication(wire.names.commands, "Nobody", message(1), mandatory=True),
            Publication(wire.names.events, "Nobody", message(2)),
            Publication(DEFAULT_EXCHANGE, wire.q("no-such-queue"), message(3), mandatory=True),
        ]
    )
    assert outcomes == [Outcome.RETURNED, Outcome.CONFIRMED, Outcome.RETURNED]


async def test_a_queue_delivers_in_order_with_at_most_prefetch_unsettled(
    wire: Wire, eventually: Eventually
) -> None:
    await wire.declare(queue(wire.q("q"), wire.names.events, "T"))
    consumer = await consume(wire.transport, wire.q("q"), prefetch=2)
    await wire.publish_events(range(5))

    async def two_out_three_waiting() -> bool:
        return len(consumer.got) == 2 and await wire.transport.queue_depth(wire.q("q")) == 3

    await eventually(two_out_three_waiting, timeout=5)
    await consumer.subscription.ack(consumer.got[:2])
    await eventually(lambda: len(consumer.got) == 4, timeout=5)
    await consumer.subscription.ack(consumer.got[2:4])
    await eventually(lambda: len(consumer.got) == 5, timeout=5)
    await consumer.subscription.ack(consumer.got[4:])
    assert consumer.ids == [f"m-{n}" for n in range(5)]


async def test_a_requeued_delivery_comes_again_first_marked_redelivered(
    wire: Wire, eventually: Eventually
) -> None:
    await wire.declare(queue(wire.q("q"), wire.names.events, "T"))
    consumer = await consume(wire.transport, wire.q("q"), prefetch=1)
    await wire.publish_events((1, 2))
    await eventually(lambda: consumer.ids == ["m-1"], timeout=5)
    await consumer.subscription.requeue(consumer.got)
    await eventually(lambda: len(consumer.got) == 2, timeout=5)
    again = consumer.got[1]
    assert (again.message.message_id, again.redelivered) == ("m-1", True)
    await consumer.subscription.ack([again])
    await eventually(lambda: consumer.ids == ["m-1", "m-1", "m-2"], timeout=5)
    assert consumer.got[2].redelivered is False
    await consumer.subscription.ack(consumer.got[2:])


async def test_closing_returns_unsettled_deliveries_to_the_queue(
    wire: Wire, eventually: Eventually
) -> None:
    await wire.declare(queue(wire.q("q"), wire.names.events, "T"))
    consumer = await consume(wire.transport, wire.q("q"))
    await wire.transport.publish([Publication(wire.names.events, "T", message(1))])
    await eventually(lambda: len(consumer.got) == 1, timeout=5)
    await consumer.subscription.cancel()
    await wire.transport.close()
    other = await wire.connection()
    try:
        delivery = await eventually(lambda: other.get(wire.q("q")), timeout=5)
        assert (delivery.message.message_id, delivery.redelivered) == ("m-1", True)
        assert await other.get(wire.q("q")) is None
    finally:
        await other.close()


async def test_a_retry_tier_sends_each_message_back_when_its_ttl_runs_out(
    wire: Wire, eventually: Eventually
) -> None:
    work = wire.q("work")
    tier = wire.names.retry(work, 0.2)
    await wire.declare(queue(work, wire.names.events, "T"))
    await wire.declare(queue(tier, wire.names.events, message_ttl=0.2, dead_letter_to=work))
    consumer = await consume(wire.transport, work, auto_ack=True)
    loop = asyncio.get_running_loop()
    published_at = loop.time()
    await wire.transport.publish(
        [Publication(DEFAULT_EXCHANGE, tier, message(1, **{"x-attempts": 1}))]
    )
    await eventually(lambda: len(consumer.got) == 1, timeout=5)
    assert loop.time() - published_at >= 0.19  # the broker's clock is not ours to the ms
    [delivery] = consumer.got
    assert (delivery.exchange, delivery.routing_key) == ("", work)
    headers = delivery.message.headers
    assert headers["x-attempts"] == 1
    [death] = headers["x-death"]
    assert (death["count"], death["reason"], death["queue"]) == (1, "expired", tier)
    assert death["exchange"] == "" and list(death["routing-keys"]) == [tier]
    assert (headers["x-first-death-queue"], headers["x-first-death-reason"]) == (tier, "expired")


async def test_declaring_again_is_harmless_but_other_settings_are_refused(wire: Wire) -> None:
    events = wire.names.events
    await wire.declare(queue(wire.q("q"), events, "A"))
    await wire.declare(queue(wire.q("q"), events, "B"))
    await wire.transport.publish([Publication(events, "B", message(1))])
    assert await wire.transport.queue_depth(wire.q("q")) == 1
    with pytest.raises(ConfigurationError):
        await wire.transport.declare(queue(wire.q("q"), events, queue_type="quorum"))


async def test_a_delivered_message_carries_what_was_sent_with_whole_second_timestamp(
    wire: Wire, eventually: Eventually
) -> None:
    await wire.declare(queue(wire.q("q"), wire.names.events, "T"))
    stamp = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    headers = {"version": 2, "kind": "event", "nested": {"a": 1}, "list": [1, "two"]}
    sent = WireMessage(b'{"x": 1}', "m-1", "T", correlation_id="c-1", timestamp=stamp,
                       headers=headers)
    await wire.transport.publish([Publication(wire.names.events, "T", sent)])
    got = await eventually(lambda: wire.transport.get(wire.q("q")), timeout=5)
    received = got.message
    assert (received.body, received.message_id, received.type, received.correlation_id) == (
        b'{"x": 1}', "m-1", "T", "c-1"
    )
    assert received.timestamp == stamp.replace(microsecond=0)
    assert received.content_type == "application/json"
    assert dict(received.headers) == headers
    assert got.envelope().payload == {"x": 1}


async def test_get_takes_one_message_at_a_time(wire: Wire, eventually: Eventually) -> None:
    await wire.declare(queue(wire.q("q"), wire.names.events, "T"))
    await wire.publish_events((1, 2))

    async def both_ready() -> bool:
        return await wire.transport.queue_depth(wire.q("q")) == 2

    await eventually(both_ready, timeout=5)
    first = await wire.transport.get(wire.q("q"))
    assert first is not None and first.message.message_id == "m-1"
    assert await wire.transport.queue_depth(wire.q("q")) == 1
    second = await wire.transport.get(wire.q("q"))
    assert second is not None and second.message.message_id == "m-2"
    assert await wire.transport.get(wire.q("q")) is None


async def test_browse_leaves_every_message_in_place_and_purge_empties(
    wire: Wire, eventually: Eventually
) -> None:
    name = wire.q("q")
    await wire.declare(queue(name, wire.names.events, "T"))
    assert await wire.transport.depth(name) == 0
    assert await wire.transport.depth(wire.q("never-declared")) is None
    await wire.transport.publish(
        [Publication(wire.names.events, "T", message(n, seq=n)) for n in (1, 2, 3)]
    )

    async def all_ready() -> bool:
        return await wire.transport.depth(name) == 3

    await eventually(all_ready, timeout=5)
    first_two = await wire.transport.browse(name, 2)
    assert [(m.message_id, m.headers["seq"]) for m in first_two] == [("m-1", 1), ("m-2", 2)]
    browsed = await wire.transport.browse(name, 10)
    assert [m.message_id for m in browsed] == ["m-1", "m-2", "m-3"]
    await eventually(all_ready, timeout=5)  # given back, in their place
    assert await wire.transport.purge(name) == 3
    assert await wire.transport.depth(name) == 0
    with pytest.raises(NoSuchQueue):
        await wire.transport.purge(wire.q("never-declared"))
    with pytest.raises(NoSuchQueue):
        await wire.transport.browse(wire.q("never-declared"), 1)


async def test_consumers_counts_who_consumes_a_queue(wire: Wire, eventually: Eventually) -> None:
    name = wire.q("q")
    await wire.declare(queue(name, wire.names.events, "T"))
    assert await wire.transport.consumers(name) == 0
    assert await wire.transport.consumers(wire.q("never-declared")) is None
    first = await consume(wire.transport, name)
    second = await consume(wire.transport, name)

    async def count_is(expected: int) -> bool:
        return await wire.transport.consumers(name) == expected

    await eventually(lambda: count_is(2), timeout=5)
    await first.subscription.cancel()
    await eventually(lambda: count_is(1), timeout=5)
    await second.subscription.cancel()
    await eventually(lambda: count_is(0), timeout=5)
