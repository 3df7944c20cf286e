"""The in-memory transport behaves as the bus relies on RabbitMQ behaving: routing,
mandatory returns, FIFO queues, prefetch, manual ack and requeue, retry tiers that
dead-letter back after their TTL, and unsettled deliveries surviving a lost connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bus.client import BusClient
from bus.envelope import Envelope
from bus.errors import BrokerUnavailable, ConfigurationError, Unroutable
from bus.memory import InMemoryBroker, InMemorySubscription, InMemoryTransport, topic_matches
from bus.settings import Settings
from bus.topology import DEFAULT_EXCHANGE, Binding, Names, QueueSpec, Topology, exchanges
from bus.transport import Delivery, Outcome, Publication, WireMessage

Eventually = Callable[..., Awaitable[Any]]
NAMES = Names()


def message(n: int | str, **headers: Any) -> WireMessage:
    return WireMessage(body=b"{}", message_id=f"m-{n}", type="T", headers=headers)


def queue(name: str, *keys: str, exchange: str = NAMES.events, **settings: Any) -> Topology:
    bindings = tuple(Binding(exchange, key) for key in keys)
    return Topology(queues=(QueueSpec(name, bindings=bindings, **settings),))


@pytest.fixture
async def transport() -> AsyncIterator[InMemoryTransport]:
    connection = InMemoryTransport()
    await connection.connect()
    await connection.declare(exchanges(NAMES))
    yield connection
    await connection.close()


class Consumer:
    """Collects deliveries; acks them itself when `auto_ack`."""

    def __init__(self, auto_ack: bool = False) -> None:
        self.got: list[Delivery] = []
        self.auto_ack = auto_ack
        self.subscription: InMemorySubscription | None = None

    def __call__(self, delivery: Delivery) -> None:
        self.got.append(delivery)
        if self.auto_ack and self.subscription is not None:
            asyncio.get_running_loop().create_task(self.subscription.ack([delivery]))

    @property
    def ids(self) -> list[str | None]:
        return [d.message.message_id for d in self.got]


async def consume(
    transport: InMemoryTransport, name: str, prefetch: int = 10, auto_ack: bool = False
) -> Consumer:
    consumer = Consumer(auto_ack)
    consumer.subscription = await transport.consume(name, prefetch, consumer)
    return consumer


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("PaymentSucceeded", "PaymentSucceeded", True),
        ("PaymentSucceeded", "PaymentFailed", False),
        ("*", "Payment", True),
        ("*", "orders.created", False),
        ("orders.*", "orders.created", True),
        ("orders.*", "orders", False),
        ("orders.#", "orders", True),
        ("orders.#", "orders.created.eu", True),
        ("#", "anything.at.all", True),
        ("#.eu", "orders.created.eu", True),
        ("#.eu", "orders.created.us", False),
        ("*.created.#", "orders.created", True),
        ("*.created.#", "created", False),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.b.c", False),
    ],
)
def test_topic_patterns_match_like_rabbitmq(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


async def test_a_command_reaches_the_one_queue_bound_to_its_type(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("payments", "ProcessPayment", exchange=NAMES.commands))
    await transport.declare(queue("shipping", "ShipOrder", exchange=NAMES.commands))
    payments = await consume(transport, "payments")
    shipping = await consume(transport, "shipping")
    outcomes = await transport.publish(
        [Publication(NAMES.commands, "ProcessPayment", message(1), mandatory=True)]
    )
    assert outcomes == [Outcome.CONFIRMED]
    await eventually(lambda: payments.ids == ["m-1"], timeout=2)
    [delivery] = payments.got
    assert (delivery.exchange, delivery.routing_key, delivery.redelivered) == (
        NAMES.commands, "ProcessPayment", False
    )
    assert shipping.got == []


async def test_an_event_reaches_every_matching_queue_once(transport: InMemoryTransport) -> None:
    await transport.declare(queue("audit", "#", "OrderCreated"))
    await transport.declare(queue("orders", "OrderCreated"))
    await transport.declare(queue("billing", "Payment*"))
    [outcome] = await transport.publish([Publication(NAMES.events, "OrderCreated", message(1))])
    assert outcome is Outcome.CONFIRMED
    assert transport.broker.journal[-1].queues == ("audit", "orders")
    assert [await transport.queue_depth(q) for q in ("audit", "orders", "billing")] == [1, 1, 0]


async def test_unroutable_publications_are_returned_only_when_mandatory(
    transport: InMemoryTransport,
) -> None:
    outcomes = await transport.publish(
        [
            Publication(NAMES.commands, "Nobody", message(1), mandatory=True),
            Publication(NAMES.events, "Nobody", message(2)),
            Publication(DEFAULT_EXCHANGE, "no-such-queue", message(3), mandatory=True),
        ]
    )
    assert outcomes == [Outcome.RETURNED, Outcome.CONFIRMED, Outcome.RETURNED]


async def test_publishing_to_an_exchange_never_declared_fails(
    transport: InMemoryTransport,
) -> None:
    assert await transport.publish([Publication("elsewhere", "T", message(1))]) == [
        Outcome.FAILED
    ]


async def test_the_client_raises_unroutable_for_a_command_nobody_handles() -> None:
    async with BusClient(Settings(), transport=InMemoryTransport()) as client:
        with pytest.raises(Unroutable, match="no queue is bound for command HtAnything"):
            await client.dispatch(Envelope(type="HtAnything", kind="command", payload={}))


async def test_a_queue_delivers_in_order_and_at_most_prefetch_unsettled(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("q", "T"))
    consumer = await consume(transport, "q", prefetch=2)
    await transport.publish([Publication(NAMES.events, "T", message(n)) for n in range(5)])
    await eventually(lambda: len(consumer.got) == 2, timeout=2)
    assert transport.broker.unacked("q") == 2
    assert await transport.queue_depth("q") == 3
    assert consumer.subscription is not None
    await consumer.subscription.ack(consumer.got[:2])
    await eventually(lambda: len(consumer.got) == 4, timeout=2)
    await consumer.subscription.ack(consumer.got[2:4])
    await eventually(lambda: len(consumer.got) == 5, timeout=2)
    assert consumer.ids == [f"m-{n}" for n in range(5)]


async def test_a_requeued_delivery_comes_again_first_and_marked_redelivered(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("q", "T"))
    consumer = await consume(transport, "q", prefetch=1)
    await transport.publish([Publication(NAMES.events, "T", message(n)) for n in (1, 2)])
    await eventually(lambda: consumer.ids == ["m-1"], timeout=2)
    assert consumer.subscription is not None
    await consumer.subscription.requeue(consumer.got)
    await eventually(lambda: len(consumer.got) == 2, timeout=2)
    again = consumer.got[1]
    assert (again.message.message_id, again.redelivered) == ("m-1", True)
    await consumer.subscription.ack([again])
    await eventually(lambda: consumer.ids == ["m-1", "m-1", "m-2"], timeout=2)
    assert consumer.got[2].redelivered is False


async def test_unsettled_deliveries_come_back_after_a_lost_connection(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("q", "T"))
    consumer = await consume(transport, "q")
    await transport.publish([Publication(NAMES.events, "T", message(1))])
    await eventually(lambda: len(consumer.got) == 1, timeout=2)
    before = consumer.got[0]
    await transport.reconnect()
    await eventually(lambda: len(consumer.got) == 2, timeout=2)
    assert consumer.got[1].redelivered is True
    assert consumer.subscription is not None
    await consumer.subscription.ack([before])  # its tag died with the old connection
    assert transport.broker.unacked("q") == 1
    await consumer.subscription.ack([consumer.got[1]])
    assert transport.broker.unacked("q") == 0
    assert await transport.queue_depth("q") == 0


async def test_closing_returns_unsettled_deliveries_to_the_queue(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("q", "T"))
    consumer = await consume(transport, "q")
    await transport.publish([Publication(NAMES.events, "T", message(1))])
    await eventually(lambda: len(consumer.got) == 1, timeout=2)
    assert consumer.subscription is not None
    await consumer.subscription.cancel()
    await transport.close()
    other = InMemoryTransport(transport.broker)
    await other.connect()
    delivery = await other.get("q")
    assert delivery is not None and delivery.redelivered
    assert await other.get("q") is None
    await other.close()


async def test_a_retry_tier_sends_each_message_back_when_its_ttl_runs_out(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("work", "T"))
    await transport.declare(queue("work.retry.200ms", message_ttl=0.2, dead_letter_to="work"))
    consumer = await consume(transport, "work", auto_ack=True)
    loop = asyncio.get_running_loop()
    published_at = loop.time()
    await transport.publish(
        [Publication(DEFAULT_EXCHANGE, "work.retry.200ms", message(1, **{"x-attempts": 1}))]
    )
    assert await transport.queue_depth("work.retry.200ms") == 1
    await eventually(lambda: len(consumer.got) == 1, timeout=3)
    assert loop.time() - published_at >= 0.2
    [delivery] = consumer.got
    assert (delivery.exchange, delivery.routing_key) == ("", "work")
    headers = delivery.message.headers
    assert headers["x-attempts"] == 1
    [death] = headers["x-death"]
    assert (death["count"], death["reason"], death["queue"]) == (1, "expired", "work.retry.200ms")
    assert headers["x-first-death-queue"] == "work.retry.200ms"


async def test_advancing_the_clock_expires_retry_tiers_at_once(
    transport: InMemoryTransport,
) -> None:
    await transport.declare(queue("work", "T"))
    await transport.declare(queue("work.retry.10m", message_ttl=600, dead_letter_to="work"))
    await transport.publish(
        [Publication(DEFAULT_EXCHANGE, "work.retry.10m", message(n)) for n in (1, 2)]
    )
    broker = transport.broker
    assert broker.delayed() == 2
    assert broker.advance(599) == 0
    assert broker.advance(1) == 2
    assert broker.delayed() == 0
    assert [m.message_id for m in broker.messages("work")] == ["m-1", "m-2"]


async def test_declaring_again_is_harmless_but_other_settings_are_refused(
    transport: InMemoryTransport,
) -> None:
    await transport.declare(queue("q", "A"))
    await transport.declare(queue("q", "B"))
    await transport.publish([Publication(NAMES.events, "B", message(1))])
    assert await transport.queue_depth("q") == 1
    with pytest.raises(ConfigurationError, match="exists with other settings"):
        await transport.declare(queue("q", queue_type="quorum"))
    with pytest.raises(ConfigurationError, match="never declared"):
        await transport.declare(queue("r", "A", exchange="nowhere"))


async def test_consuming_a_queue_never_declared_fails_at_once(
    transport: InMemoryTransport,
) -> None:
    with pytest.raises(ConfigurationError, match="no queue named 'ghost'"):
        await transport.consume("ghost", 1, lambda _: None)


async def test_a_closed_transport_fails_publications_and_refuses_declarations() -> None:
    transport = InMemoryTransport()
    assert await transport.publish([Publication(NAMES.events, "T", message(1))]) == [
        Outcome.FAILED
    ]
    with pytest.raises(BrokerUnavailable):
        await transport.declare(exchanges(NAMES))


async def test_transports_of_one_broker_see_the_same_queues(eventually: Eventually) -> None:
    broker = InMemoryBroker()
    service, client = InMemoryTransport(broker), InMemoryTransport(broker)
    await service.connect()
    await client.connect()
    await service.declare(exchanges(NAMES) + queue("q", "T"))
    consumer = await consume(service, "q", auto_ack=True)
    await client.publish([Publication(NAMES.events, "T", message(1))])
    await eventually(lambda: consumer.ids == ["m-1"], timeout=2)
    await client.close()
    await service.close()


async def test_a_delivered_message_is_the_publishers_copy_with_whole_second_timestamp(
    transport: InMemoryTransport,
) -> None:
    await transport.declare(queue("q", "T"))
    headers = {"nested": {"a": 1}}
    stamp = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    sent = WireMessage(b"{}", "m-1", "T", timestamp=stamp, headers=headers)
    await transport.publish([Publication(NAMES.events, "T", sent)])
    headers["nested"]["a"] = 2
    got = await transport.get("q")
    assert got is not None
    assert got.message.headers == {"nested": {"a": 1}}
    assert got.message.timestamp == stamp.replace(microsecond=0)
