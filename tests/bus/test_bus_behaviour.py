"""The bus's behaviour, written once and run on both transports (`transport_kind`):
the in-memory one and the real RabbitMQ. Round trips, one effect for a message
delivered twice, retries, dead letters with every header, poison, unroutable commands.
What only one transport has lives beside it: `test_bus_messaging.py` (RabbitMQ) and
`tests/testing/test_harness_services.py` (the harness's record)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import orjson
import pytest
from support.bus_kinds import TRANSPORT_KINDS, RunningBus, memory_bus, rabbitmq_bus
from support.ledger_services import (
    AUDIT,
    LEDGER,
    BtCharge,
    BtNobodyHandlesThis,
    audit,
    ledger,
)

from bus import Envelope, Settings, Unroutable
from bus.deadletters.republishing import (
    ATTEMPTS,
    EXCEPTION_MESSAGE,
    EXCEPTION_TYPE,
    FIRST_FAILURE,
    LAST_FAILURE,
    ORIGIN_QUEUE,
    ORIGINAL_EXCHANGE,
    ORIGINAL_ROUTING_KEY,
    REASON,
    TRACEBACK,
)
from bus.errors import ContractViolation, UnknownMessageType
from bus.store import Store
from bus.unitofwork.endpoint import Endpoint
from bus.wire.envelope import utcnow
from bus.wire.transport import Delivery, WireMessage

pytestmark = pytest.mark.integration

BOTH_STORES = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
StartBus = Callable[[Sequence[Endpoint]], Awaitable[RunningBus]]


@pytest.fixture(params=TRANSPORT_KINDS)
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rabbitmq(transport_kind: str, request: pytest.FixtureRequest) -> tuple[Any, ...]:
    """On RabbitMQ, the fixtures its bus needs (`make_bus`, `broker`, `eventually`),
    asked for only then: the memory runs neither need nor wait for the broker."""
    if transport_kind == "memory":
        return ()
    return tuple(request.getfixturevalue(f) for f in ("make_bus", "broker", "eventually"))


@pytest.fixture
async def start_bus(
    rabbitmq: tuple[Any, ...], settings: Settings, store: Store
) -> AsyncIterator[StartBus]:
    """`bus = await start_bus([ledger])`: a running bus on the test's transport, stopped
    afterwards (on RabbitMQ, the test's namespace is deleted too)."""
    async with AsyncExitStack() as stack:

        async def start(endpoints: Sequence[Endpoint]) -> RunningBus:
            if not rabbitmq:
                running = memory_bus(endpoints, settings, store)
            else:
                make_bus, broker, eventually = rabbitmq
                running = rabbitmq_bus(endpoints, make_bus, broker, settings, store, eventually)
            return await stack.enter_async_context(running)

        yield start


def new_id() -> str:
    return uuid.uuid4().hex


def command(charge_id: str) -> WireMessage:
    return WireMessage.of(Envelope.of(BtCharge(charge_id=charge_id)))


@BOTH_STORES
async def test_command_round_trip_through_handler_that_publishes_an_event(
    start_bus: StartBus,
) -> None:
    bus = await start_bus([ledger, audit])
    charged = await bus.probe_queue("BtCharged")
    charge_id = new_id()

    sent = await bus.send(BtCharge(charge_id=charge_id, amount=12.5), correlation_id="c-1")

    recorded = await bus.settled(lambda: bus.state(AUDIT, charge_id), what="audit recorded")
    assert recorded == {"count": 1, "correlation_id": "c-1", "causation_id": sent.message_id}
    assert (await bus.state(LEDGER, charge_id)) == {"count": 1, "runs": 1}
    [event] = await bus.messages(charged)
    envelope = Delivery(event, "", "", False, None).envelope()
    assert envelope.payload == {"charge_id": charge_id, "amount": 12.5}
    assert envelope.correlation_id == "c-1"
    assert envelope.causation_id == sent.message_id


@BOTH_STORES
async def test_same_message_delivered_twice_has_its_effect_once(start_bus: StartBus) -> None:
    bus = await start_bus([ledger])
    charged = await bus.probe_queue("BtCharged")
    charge_id = new_id()
    twice = command(charge_id)
    await bus.publish_command(twice, "BtCharge")
    await bus.publish_command(twice, "BtCharge")
    # a later message on the same queue: once it is handled, both copies were
    marker = new_id()
    await bus.publish_command(command(marker), "BtCharge")

    await bus.settled(lambda: bus.state(LEDGER, marker), what="marker handled")
    assert (await bus.state(LEDGER, charge_id)) == {"count": 1, "runs": 1}
    events = await bus.settled(lambda: _two(bus.messages(charged)), what="two events")
    assert [orjson.loads(e.body)["charge_id"] for e in events].count(charge_id) == 1


async def _two(messages: Awaitable[list[WireMessage]]) -> list[WireMessage] | None:
    found = await messages
    return found if len(found) == 2 else None


async def test_handler_failing_twice_is_retried_with_delay_then_succeeds(
    start_bus: StartBus,
) -> None:
    bus = await start_bus([ledger])
    charge_id = new_id()
    sent = await bus.send(BtCharge(charge_id=charge_id, fail_times=2))

    done = await bus.settled(lambda: bus.state(LEDGER, charge_id), what="charged")
    assert done == {"count": 1, "runs": 3}
    elapsed = (utcnow() - sent.timestamp).total_seconds()
    assert elapsed >= 0.2 + 0.3, "the two retries waited in their tiers"
    assert await bus.messages(bus.names.dlq(bus.names.queue(LEDGER))) == []


async def test_always_failing_handler_ends_in_dlq_with_all_headers(
    start_bus: StartBus,
) -> None:
    bus = await start_bus([ledger])
    names = bus.names
    queue = names.queue(LEDGER)
    charge_id = new_id()
    sent = await bus.send(BtCharge(charge_id=charge_id, always_fail=True))

    [dead] = await bus.settled(lambda: bus.messages(names.dlq(queue)), what="dead letter")
    headers = dead.headers
    assert dead.message_id == sent.message_id
    assert orjson.loads(dead.body)["charge_id"] == charge_id
    assert headers[ATTEMPTS] == 3
    assert headers[EXCEPTION_TYPE] == "support.ledger_services.DeclinedCard"
    assert headers[EXCEPTION_MESSAGE] == f"card declined for {charge_id} (run 3)"
    assert "Traceback" in headers[TRACEBACK] and "DeclinedCard" in headers[TRACEBACK]
    assert headers[ORIGINAL_EXCHANGE] == names.commands
    assert headers[ORIGINAL_ROUTING_KEY] == "BtCharge"
    assert headers[ORIGIN_QUEUE] == queue
    assert headers[FIRST_FAILURE] < headers[LAST_FAILURE]
    assert headers[REASON].startswith(
        f"failed 3 attempt(s): DeclinedCard: card declined for {charge_id}"
    )
    assert "x-death" not in headers
    assert await bus.state(LEDGER, charge_id) is None


def poison(body: bytes, **fields: object) -> WireMessage:
    return WireMessage(body=body, **{"message_id": new_id(), "type": "BtCharge", **fields})


async def test_each_poison_kind_goes_to_dlq_with_its_reason_and_consumer_keeps_serving(
    start_bus: StartBus,
) -> None:
    bus = await start_bus([ledger])
    kinds = {
        "not JSON": poison(b"{not json"),
        "unknown type": poison(b"{}", type="NoSuchType"),
        "failing validation": poison(b'{"charge_id": 7}'),
        "newer version": poison(b'{"charge_id": "v"}', headers={"version": 9}),
        "no message_id": poison(b'{"charge_id": "m"}', message_id=None),
    }
    for message in kinds.values():
        await bus.publish_command(message, "BtCharge")
    healthy = new_id()
    await bus.publish_command(command(healthy), "BtCharge")

    await bus.settled(lambda: bus.state(LEDGER, healthy), what="healthy message handled")
    dlq = bus.names.dlq(bus.names.queue(LEDGER))
    dead = await bus.settled(lambda: _at_least(5, bus.messages(dlq)), what="five dead")
    reasons = sorted(d.headers[REASON] for d in dead)
    assert reasons == sorted([
        "poison: BtCharge version 9 is newer than the known version 1",
        "poison: BtCharge: charge_id: Input should be a valid string",
        "poison: missing message_id",
        "poison: unknown message type 'NoSuchType'",
        reasons[[r.startswith("poison: body is not JSON") for r in reasons].index(True)],
    ])
    assert sorted(d.body for d in dead) == sorted(m.body for m in kinds.values())
    assert all(d.headers.get(ATTEMPTS, 0) == 0 for d in dead), "poison is never retried"
    assert await bus.state(LEDGER, "v") is None and await bus.state(LEDGER, "m") is None


async def _at_least(count: int, messages: Awaitable[list[WireMessage]]) -> list[WireMessage]:
    found = await messages
    return found if len(found) >= count else []


async def test_send_of_a_command_nobody_handles_raises_unroutable(
    start_bus: StartBus,
) -> None:
    bus = await start_bus([ledger])
    with pytest.raises(Unroutable, match="no queue is bound for command BtNobodyHandlesThis"):
        await bus.send(BtNobodyHandlesThis(charge_id="x"))


async def test_unroutable_command_from_a_handler_is_parked_not_lost(
    start_bus: StartBus,
) -> None:
    bus = await start_bus([ledger])
    names = bus.names
    charge_id = new_id()
    await bus.send(BtCharge(charge_id=charge_id, then_send_unhandled=True))

    [parked] = await bus.settled(lambda: bus.messages(names.unroutable), what="parked")
    assert parked.type == "BtNobodyHandlesThis"
    assert parked.headers[REASON] == (
        f"unroutable: no queue is bound for BtNobodyHandlesThis on {names.commands}"
    )
    assert parked.headers[ORIGINAL_EXCHANGE] == names.commands
    assert (await bus.state(LEDGER, charge_id)) == {"count": 1, "runs": 1}
    await bus.settled(bus.outbox_sent, what="rows marked sent")
    assert bus.bus.relay.parked == 1


async def test_client_validates_raw_payloads_against_the_contract(start_bus: StartBus) -> None:
    bus = await start_bus([ledger])
    with pytest.raises(ContractViolation, match="charge_id"):
        await bus.client.send_type("BtCharge", {"amount": 3})
    with pytest.raises(UnknownMessageType):
        await bus.client.send_type("NoSuchCommand", {})
    with pytest.raises(ContractViolation, match="BtCharged is an event, not a command"):
        await bus.client.send_type("BtCharged", {"charge_id": "x", "amount": 1})
