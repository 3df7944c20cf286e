"""What only the RabbitMQ bus in this process shows: stopping finishes the work in
flight and flushes the outbox. The behaviour both transports share (round trips,
duplicates, retries, dead letters, poison, unroutable commands) is
`test_bus_behaviour.py`, run on each."""

from __future__ import annotations

import uuid

import pytest
from bus_test_support import backlog, state
from support.broker import TestBroker
from support.ledger_services import LEDGER, BtCharge, ledger

from bus import BusClient, Settings
from bus.store import Store

pytestmark = pytest.mark.integration


def new_id() -> str:
    return uuid.uuid4().hex


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
