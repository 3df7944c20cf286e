"""RabbitMQ's app stops and starts while the bus consumes and a client publishes:
the bus reconnects, resumes consuming, and every message has its effect exactly once.

Stopping the app affects every client of this broker, so this test restores it in a
`finally` block and waits for port 5672 before it returns.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid

import pytest
from support.broker import TestBroker
from support.broker_outage import broker_down
from support.ledger_services import LEDGER, BtCharge, ledger

from bus import Envelope, Settings, Store
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names
from bus.wire.transport import Outcome, Publication, WireMessage

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="rabbitmqctl is not installed"),
]

MESSAGES = 300


async def publish_until_confirmed(producer: RabbitMQTransport, publication: Publication) -> None:
    """What a careful producer does: the same message (same message_id) again until the
    broker confirms it; the consumer's inbox drops copies."""
    while True:
        [outcome] = await producer.publish([publication])
        if outcome is Outcome.CONFIRMED:
            return
        await asyncio.sleep(0.1)


async def test_broker_app_restart_during_consumption_loses_nothing(
    make_bus, broker: TestBroker, settings: Settings, store: Store, names: Names, eventually
) -> None:
    await make_bus([ledger])
    producer = RabbitMQTransport(settings.amqp_url, ready_timeout=30, name="test-producer")
    await producer.connect()
    ids = [uuid.uuid4().hex for _ in range(MESSAGES)]
    confirmed = 0

    async def produce() -> None:
        nonlocal confirmed
        for charge_id in ids:
            message = WireMessage.of(Envelope.of(BtCharge(charge_id=charge_id)))
            await publish_until_confirmed(
                producer, Publication(names.commands, "BtCharge", message, mandatory=True)
            )
            confirmed += 1
            await asyncio.sleep(0.005)

    async def charged() -> dict[str, dict]:
        async with store.transaction() as tx:
            return dict(await tx.state_list(LEDGER))

    producing = asyncio.create_task(produce())
    try:
        await eventually(lambda: confirmed >= MESSAGES // 4, timeout=30)
        await eventually(charged, what="consumption under way")
        async with broker_down(within=60):
            await asyncio.sleep(0.5)  # let the outage be seen (not a synchronisation)
        await asyncio.wait_for(producing, 90)
        done = await eventually(
            lambda: _all_charged(charged, ids), timeout=60, what="every charge handled"
        )
    finally:
        producing.cancel()
        await producer.close()
    assert sorted(done) == sorted(ids)
    assert {doc["count"] for doc in done.values()} == {1}, "an effect happened twice"


async def _all_charged(charged, ids: list[str]) -> dict[str, dict] | None:
    state = await charged()
    return state if len(state) == len(ids) else None
