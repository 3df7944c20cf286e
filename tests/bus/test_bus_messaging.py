"""The bus end to end on the real RabbitMQ, one in-process `Bus` per test: round trips,
exactly-once effects, retries, dead letters, poison, unroutable commands."""

from __future__ import annotations

import uuid

import orjson
import pytest
from bus_test_handlers import (
    AUDIT,
    LEDGER,
    BtCharge,
    BtNobodyHandlesThis,
    audit,
    ledger,
)
from bus_test_support import backlog, state
from support.broker import TestBroker

from bus import BusClient, Envelope, Settings, Unroutable
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
from bus.store import Store
from bus.wire.envelope import utcnow
from bus.wire.topology import Names
from bus.wire.transport import WireMessage

pytestmark = pytest.mark.integration

BOTH_STORES = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)


def new_id() -> str:
    return uuid.uuid4().hex


@BOTH_STORES
async def test_command_round_trip_through_handler_that_publishes_an_event(
    make_bus, broker: TestBroker, settings: Settings, store: Store, eventually
) -> None:
    probe = await broker.probe(events=["BtCharged"])
    await make_bus([ledger, audit])
    charge_id = new_id()

    async with BusClient(settings) as client:
        sent = await client.send(BtCharge(charge_id=charge_id, amount=12.5), correlation_id="c-1")

    [event] = await eventually(lambda: probe.of_type("BtCharged"), what="BtCharged published")
    envelope = event.envelope()
    assert envelope.payload == {"charge_id": charge_id, "amount": 12.5}
    assert envelope.correlation_id == "c-1"
    assert envelope.causation_id == sent.message_id
    recorded = await eventually(lambda: state(store, AUDIT, charge_id), what="audit recorded")
    assert recorded == {"count": 1, "correlation_id": "c-1", "causation_id": sent.message_id}
    assert (await state(store, LEDGER, charge_id)) == {"count": 1, "runs": 1}


@BOTH_STORES
async def test_same_message_delivered_twice_has_its_effect_once(
    make_bus, broker: TestBroker, names: Names, store: Store, eventually
) -> None:
    probe = await broker.probe(events=["BtCharged"])
    await make_bus([ledger])
    charge_id = new_id()
    twice = WireMessage.of(Envelope.of(BtCharge(charge_id=charge_id)))
    await broker.publish(names.commands, "BtCharge", twice)
    await broker.publish(names.commands, "BtCharge", twice)
    # a later message on the same queue: once it is handled, both copies were
    marker = new_id()
    await broker.publish(
        names.commands, "BtCharge", WireMessage.of(Envelope.of(BtCharge(charge_id=marker)))
    )

    await eventually(lambda: state(store, LEDGER, marker), what="marker handled")
    assert (await state(store, LEDGER, charge_id)) == {"count": 1, "runs": 1}
    await eventually(lambda: len(probe.received) == 2, what="two events")
    assert [d.envelope().payload["charge_id"] for d in probe.received].count(charge_id) == 1


async def test_handler_failing_twice_is_retried_with_delay_then_succeeds(
    make_bus, settings: Settings, store: Store, broker: TestBroker, names: Names, eventually
) -> None:
    await make_bus([ledger])
    charge_id = new_id()
    async with BusClient(settings) as client:
        sent = await client.send(BtCharge(charge_id=charge_id, fail_times=2))

    done = await eventually(lambda: state(store, LEDGER, charge_id), timeout=15)
    assert done == {"count": 1, "runs": 3}
    elapsed = (utcnow() - sent.timestamp).total_seconds()
    assert elapsed >= 0.2 + 0.3, "the two retries waited in their tiers"
    assert await broker.depth(names.dlq(names.queue(LEDGER))) == 0


async def test_always_failing_handler_ends_in_dlq_with_all_headers(
    make_bus, settings: Settings, store: Store, broker: TestBroker, names: Names, eventually
) -> None:
    await make_bus([ledger])
    queue = names.queue(LEDGER)
    charge_id = new_id()
    async with BusClient(settings) as client:
        sent = await client.send(BtCharge(charge_id=charge_id, always_fail=True))

    [dead] = await eventually(lambda: broker.take_all(names.dlq(queue)), timeout=15)
    headers = dead.message.headers
    assert dead.message.message_id == sent.message_id
    assert orjson.loads(dead.message.body)["charge_id"] == charge_id
    assert headers[ATTEMPTS] == 3
    assert headers[EXCEPTION_TYPE] == "bus_test_handlers.DeclinedCard"
    assert headers[EXCEPTION_MESSAGE] == f"card declined for {charge_id} (run 3)"
    assert "Traceback" in headers[TRACEBACK] and "DeclinedCard" in headers[TRACEBACK]
    assert headers[ORIGINAL_EXCHANGE] == names.commands
    assert headers[ORIGINAL_ROUTING_KEY] == "BtCharge"
    assert headers[ORIGIN_QUEUE] == queue
    assert headers[FIRST_FAILURE] < headers[LAST_FAILURE]
    assert headers[REASON].startswith("failed 3 attempt(s): DeclinedCard")
    assert "x-death" not in headers
    assert await state(store, LEDGER, charge_id) is None


async def test_each_poison_kind_goes_to_dlq_with_its_reason_and_consumer_keeps_serving(
    make_bus, store: Store, broker: TestBroker, names: Names, eventually
) -> None:
    await make_bus([ledger])
    queue = names.queue(LEDGER)

    def message(body: bytes, **kw: object) -> WireMessage:
        fields: dict = {"message_id": new_id(), "type": "BtCharge", **kw}
        return WireMessage(body=body, **fields)

    poison = {
        "not JSON": message(b"{not json"),
        "unknown type": message(b"{}", type="NoSuchType"),
        "failing validation": message(b'{"charge_id": 7}'),
        "newer version": message(b'{"charge_id": "v"}', headers={"version": 9}),
    }
    for body in poison.values():
        await broker.publish(names.commands, "BtCharge", body)
    await broker.publish_without_message_id(names.commands, "BtCharge", b'{"charge_id": "m"}',
                                            "BtCharge")
    healthy = new_id()
    await broker.publish(
        names.commands, "BtCharge", WireMessage.of(Envelope.of(BtCharge(charge_id=healthy)))
    )

    await eventually(lambda: state(store, LEDGER, healthy), what="healthy message handled")
    dead: list = []

    async def five_dead() -> bool:
        dead.extend(await broker.take_all(names.dlq(queue)))
        return len(dead) >= 5

    await eventually(five_dead)
    reasons = sorted(d.message.headers[REASON] for d in dead)
    assert reasons == sorted([
        "poison: BtCharge version 9 is newer than the known version 1",
        "poison: BtCharge: charge_id: Input should be a valid string",
        "poison: missing message_id",
        "poison: unknown message type 'NoSuchType'",
        reasons[[r.startswith("poison: body is not JSON") for r in reasons].index(True)],
    ])
    by_id = {d.message.message_id: d for d in dead}
    assert by_id[poison["not JSON"].message_id].message.body == b"{not json"


async def test_send_of_a_command_nobody_handles_raises_unroutable(
    broker: TestBroker, settings: Settings
) -> None:
    async with BusClient(settings) as client:
        with pytest.raises(Unroutable, match="no queue is bound for command BtNobodyHandlesThis"):
            await client.send(BtNobodyHandlesThis(charge_id="x"))


async def test_unroutable_command_from_a_handler_is_parked_not_lost(
    make_bus, settings: Settings, store: Store, broker: TestBroker, names: Names, eventually
) -> None:
    bus = await make_bus([ledger])
    charge_id = new_id()
    async with BusClient(settings) as client:
        await client.send(BtCharge(charge_id=charge_id, then_send_unhandled=True))

    [parked] = await eventually(lambda: broker.take_all(names.unroutable), what="parked")
    assert parked.message.type == "BtNobodyHandlesThis"
    assert parked.message.headers[REASON].startswith(
        "unroutable: no queue is bound for BtNobodyHandlesThis"
    )
    assert parked.message.headers[ORIGINAL_EXCHANGE] == names.commands
    await eventually(lambda: backlog(store, 0), what="rows marked sent")
    assert bus.relay.parked == 1


async def test_client_validates_raw_payloads_against_the_contract(
    broker: TestBroker, settings: Settings
) -> None:
    from bus.errors import ContractViolation, UnknownMessageType

    async with BusClient(settings) as client:
        with pytest.raises(ContractViolation, match="charge_id"):
            await client.send_type("BtCharge", {"amount": 3})
        with pytest.raises(UnknownMessageType):
            await client.send_type("NoSuchCommand", {})
        with pytest.raises(ContractViolation, match="BtCharged is an event, not a command"):
            await client.send_type("BtCharged", {"charge_id": "x", "amount": 1})


async def test_stop_finishes_in_flight_work_and_flushes_the_outbox(
    make_bus, settings: Settings, store: Store, broker: TestBroker, eventually
) -> None:
    probe = await broker.probe(events=["BtCharged"])
    bus = await make_bus([ledger])
    ids = [new_id() for _ in range(30)]
    async with BusClient(settings) as client:
        for charge_id in ids:
            await client.send(BtCharge(charge_id=charge_id))
    await eventually(lambda: state(store, LEDGER, ids[0]))
    await bus.stop()

    assert await backlog(store, 0)
    handled = [i for i in ids if await state(store, LEDGER, i)]
    await eventually(lambda: len(probe.received) == len(handled))
