"""What only the in-memory transport has, or checks more closely than a test on RabbitMQ
could: topic patterns, the journal, moving the clock, a simulated lost connection, and
its failures (behaviour shared with RabbitMQ is in `test_transport_conformance.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from transport_support import consume, message, queue

from bus.errors import BrokerUnavailable, ConfigurationError, Unroutable
from bus.settings import Settings
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from bus.wire.memory import InMemoryBroker, InMemoryTransport, topic_matches
from bus.wire.topology import DEFAULT_EXCHANGE, Names, exchanges
from bus.wire.transport import Outcome, Publication

Eventually = Callable[..., Awaitable[Any]]
NAMES = Names()
EVENTS = NAMES.events


@pytest.fixture
async def transport() -> AsyncIterator[InMemoryTransport]:
    connection = InMemoryTransport()
    await connection.connect()
    await connection.declare(exchanges(NAMES))
    yield connection
    await connection.close()


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


async def test_the_journal_keeps_every_publication_with_its_outcome_and_queues(
    transport: InMemoryTransport,
) -> None:
    await transport.declare(queue("audit", EVENTS, "#", "OrderCreated"))
    await transport.declare(queue("orders", EVENTS, "OrderCreated"))
    headers = {"trace": ["a"]}
    await transport.publish(
        [
            Publication(EVENTS, "OrderCreated", message(1, **headers)),
            Publication(NAMES.commands, "Nobody", message(2), mandatory=True),
        ]
    )
    headers["trace"].append("b")
    first, second = transport.broker.journal
    assert (first.outcome, first.queues) == (Outcome.CONFIRMED, ("audit", "orders"))
    assert first.publication.message.headers == {"trace": ["a"]}
    assert (second.outcome, second.queues) == (Outcome.RETURNED, ())


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


async def test_after_a_lost_connection_unsettled_deliveries_come_again_and_old_acks_do_nothing(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("q", EVENTS, "T"))
    consumer = await consume(transport, "q")
    await transport.publish([Publication(EVENTS, "T", message(1))])
    await eventually(lambda: len(consumer.got) == 1, timeout=2)
    before = consumer.got[0]
    await transport.reconnect()
    await eventually(lambda: len(consumer.got) == 2, timeout=2)
    assert consumer.got[1].redelivered is True
    await consumer.subscription.ack([before])  # its tag died with the old connection
    assert transport.broker.unacked("q") == 1
    await consumer.subscription.ack([consumer.got[1]])
    assert transport.broker.unacked("q") == 0
    assert await transport.queue_depth("q") == 0


async def test_advancing_the_clock_expires_retry_tiers_at_once(
    transport: InMemoryTransport,
) -> None:
    await transport.declare(queue("work", EVENTS, "T"))
    await transport.declare(queue("work.retry.10m", EVENTS, message_ttl=600, dead_letter_to="work"))
    await transport.publish(
        [Publication(DEFAULT_EXCHANGE, "work.retry.10m", message(n)) for n in (1, 2)]
    )
    broker = transport.broker
    assert broker.delayed() == 2
    assert broker.advance(599) == 0
    assert broker.advance(1) == 2
    assert broker.delayed() == 0
    assert [m.message_id for m in broker.messages("work")] == ["m-1", "m-2"]


async def test_skipping_to_the_next_expiry_takes_only_what_expires_then(
    transport: InMemoryTransport,
) -> None:
    await transport.declare(queue("work", EVENTS, "T"))
    for tier, ttl in (("work.retry.1s", 1), ("work.retry.1m", 60)):
        await transport.declare(queue(tier, EVENTS, message_ttl=ttl, dead_letter_to="work"))
    await transport.publish(
        [Publication(DEFAULT_EXCHANGE, tier, message(tier))
         for tier in ("work.retry.1m", "work.retry.1s")]
    )
    broker = transport.broker
    assert broker.skip_to_next_expiry() == 1
    assert [m.message_id for m in broker.messages("work")] == ["m-work.retry.1s"]
    assert broker.skip_to_next_expiry() == 1
    assert broker.skip_to_next_expiry() == 0
    assert broker.queue_depth("work") == 2
    [death] = broker.messages("work")[1].headers["x-death"]
    assert death["queue"] == "work.retry.1m"


async def test_a_message_that_expires_twice_counts_its_deaths(
    transport: InMemoryTransport,
) -> None:
    await transport.declare(queue("work", EVENTS, "T"))
    await transport.declare(queue("work.retry.1s", EVENTS, message_ttl=1, dead_letter_to="work"))
    await transport.publish([Publication(DEFAULT_EXCHANGE, "work.retry.1s", message(1))])
    transport.broker.advance(1)
    again = await transport.get("work")
    assert again is not None
    await transport.publish([Publication(DEFAULT_EXCHANGE, "work.retry.1s", again.message)])
    transport.broker.advance(1)
    back = await transport.get("work")
    assert back is not None
    [death] = back.message.headers["x-death"]
    assert death["count"] == 2


async def test_consuming_a_queue_never_declared_fails_at_once(
    transport: InMemoryTransport,
) -> None:
    with pytest.raises(ConfigurationError, match="no queue named 'ghost'"):
        await transport.consume("ghost", 1, lambda _: None)


async def test_binding_to_an_exchange_never_declared_is_refused(
    transport: InMemoryTransport,
) -> None:
    with pytest.raises(ConfigurationError, match="never declared"):
        await transport.declare(queue("r", "nowhere", "A"))


async def test_a_closed_transport_fails_publications_and_refuses_declarations() -> None:
    transport = InMemoryTransport()
    assert await transport.publish([Publication(EVENTS, "T", message(1))]) == [Outcome.FAILED]
    with pytest.raises(BrokerUnavailable):
        await transport.declare(exchanges(NAMES))


async def test_transports_of_one_broker_see_the_same_queues(eventually: Eventually) -> None:
    broker = InMemoryBroker()
    service, client = InMemoryTransport(broker), InMemoryTransport(broker)
    await service.connect()
    await client.connect()
    await service.declare(exchanges(NAMES) + queue("q", EVENTS, "T"))
    consumer = await consume(service, "q", auto_ack=True)
    await client.publish([Publication(EVENTS, "T", message(1))])
    await eventually(lambda: consumer.ids == ["m-1"], timeout=2)
    await client.close()
    await service.close()


async def test_consumers_of_one_queue_take_turns(
    transport: InMemoryTransport, eventually: Eventually
) -> None:
    await transport.declare(queue("q", EVENTS, "T"))
    first = await consume(transport, "q", auto_ack=True)
    second = await consume(transport, "q", auto_ack=True)
    await transport.publish([Publication(EVENTS, "T", message(n)) for n in range(4)])
    await eventually(lambda: len(first.got) + len(second.got) == 4, timeout=2)
    assert first.got and second.got
