"""Dead-letter tooling end to end: an order's payment fails until the payment gateway is
repaired, its command lands in `payments.dlq`, `sagabus dlq list|show` tell why, a
replay while still broken dies again with a fresh attempt count, and a replay after the
repair finishes the saga - once, even when the dead letter was there twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_services import AMQP_URL
from reliability_support import patient_order_saga, sagabus, words
from support.broker import TestBroker

import handlers.messages as m
from bus import BusClient, HandlerContext, RetryPolicy, Service
from bus.daemon import import_package, services_in
from bus.deadletters.operations import REPLAYS, DeadLetter, DeadLetterQueues
from bus.deadletters.republishing import ATTEMPTS, EXCEPTION_TYPE
from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.runtime import Bus
from bus.wire.topology import DEFAULT_EXCHANGE, Names
from bus.wire.transport import Publication, WireMessage
from handlers.payments import CHARGES, process_payment, refund_payment
from saga_dsl.engine.endpoint import instance_id
from saga_dsl.engine.wiring import saga_runtime

pytestmark = pytest.mark.integration

REPAIR = "repair"
"""State namespace of the test's payment gateway: `gateway` (present once repaired) and
`runs` (successful payment runs)."""

payments = Service("payments", retry=RetryPolicy(attempts=2, delays=["100ms"]))
payments.handles(m.RefundPayment)(refund_payment)


class GatewayDown(RuntimeError):
    """The payment gateway is unreachable until the test repairs it."""


@payments.handles(m.ProcessPayment)
async def pay_through_the_gateway(cmd: m.ProcessPayment, ctx: HandlerContext) -> None:
    if await ctx.tx.state_get(REPAIR, "gateway") is None:
        raise GatewayDown(f"payment gateway unreachable for {cmd.order_id}")
    runs = await ctx.tx.state_get(REPAIR, "runs", for_update=True) or {"count": 0}
    await ctx.tx.state_put(REPAIR, "runs", {"count": runs["count"] + 1})
    await process_payment(cmd, ctx)


@pytest.fixture
async def bus(
    broker: TestBroker, settings: Settings, store: Store, tmp_path: Path
) -> AsyncIterator[Bus]:
    """The example services, with the gateway-bound payments above, and the order saga
    with waits so long that only a replay can move it."""
    others = [s for s in services_in(import_package("handlers")) if s.name != "payments"]
    runtime = saga_runtime(patient_order_saga(tmp_path / "sagas"))
    await runtime.pin(store)
    running = Bus(
        settings, store, [payments, *others, *runtime.endpoints], background=[runtime.scheduler]
    )
    broker.track(running.topology())
    async with running:
        yield running


async def dead_letters(names: Names) -> list[DeadLetter]:
    async with DeadLetterQueues(AMQP_URL) as box:
        return await box.browse(names.dlq(names.queue("payments")))


async def test_replay_after_the_repair_finishes_the_saga_once(
    bus: Bus, broker: TestBroker, settings: Settings, store: Store, names: Names, eventually
) -> None:
    cli = ("--namespace", names.namespace, "--amqp-url", AMQP_URL)
    order = m.CreateOrder(
        order_id="dlq-1", customer_id="c-1", amount=120.0,
        items=[m.OrderItem(sku="BOOK-1", quantity=1, unit_price=120.0)],
    )
    async with BusClient(settings) as client:
        await client.send(order)
    [dead] = await eventually(lambda: dead_letters(names), what="ProcessPayment dead-lettered")
    assert dead.type == "ProcessPayment"
    assert dead.attempts == 2
    assert dead.reason.startswith("failed 2 attempt(s): GatewayDown: payment gateway")

    listed = await sagabus("dlq", "list", *cli)
    assert listed.code == 0, listed.err
    assert f"{names.namespace}.payments.dlq: 1" in listed.out
    assert all(text in words(listed.out) for text in (dead.id, "ProcessPayment", "GatewayDown"))

    shown = await sagabus("dlq", "show", dead.id, *cli)
    assert shown.code == 0, shown.err
    assert f"{EXCEPTION_TYPE}: test_dead_letter_replay.GatewayDown" in shown.out
    assert '"order_id": "dlq-1"' in shown.out and "Traceback" in shown.out

    # still broken: the replay dies again, after a whole new round of attempts
    again = await sagabus("dlq", "replay", dead.id, *cli)
    assert again.code == 0 and "replayed 1, kept 0" in again.out, (again.out, again.err)

    async def replayed_and_dead_again() -> list[DeadLetter]:
        return [d for d in await dead_letters(names) if d.message.headers.get(REPLAYS) == 1]

    [redead] = await eventually(replayed_and_dead_again, what="replayed copy dead again")
    assert redead.id == dead.id and redead.message.headers[ATTEMPTS] == 2

    # repaired; and the dead letter is there twice, as after a replay that crashed
    # between publishing and acknowledging
    async with store.transaction() as tx:
        await tx.state_put(REPAIR, "gateway", {"repaired": True})
    [outcome] = await broker.transport.publish(
        [Publication(DEFAULT_EXCHANGE, redead.queue, redead.message)]
    )
    assert outcome.value == "confirmed"
    assert len(await dead_letters(names)) == 2

    replayed = await sagabus("dlq", "replay", "--all", "--queue", "payments", *cli)
    assert replayed.code == 0 and "replayed 2, kept 0" in replayed.out, replayed.err

    async def completed() -> bool:
        async with store.transaction() as tx:
            record = await tx.saga_get(instance_id("order_processing", "dlq-1"))
        return record is not None and record.state == "completed"

    await eventually(completed, timeout=30, what="the order saga completed")
    async with store.transaction() as tx:
        assert [key for key, _ in await tx.state_list(CHARGES)] == ["dlq-1"]
        assert await tx.state_get(REPAIR, "runs") == {"count": 1}, "the inbox let a copy in"
    assert await dead_letters(names) == []
    empty = await sagabus("dlq", "list", *cli)
    assert empty.code == 0 and "no dead letters" in empty.out
    gone = await sagabus("dlq", "show", dead.id, *cli)
    assert gone.code == 2 and f"no dead letter with id {dead.id}" in gone.err


async def test_purge_empties_a_dead_letter_queue_and_replay_without_origin_is_kept(
    bus: Bus, broker: TestBroker, names: Names, eventually
) -> None:
    cli = ("--namespace", names.namespace, "--amqp-url", AMQP_URL)
    dlq = names.dlq(names.queue("payments"))
    orphan = WireMessage(body=b"{}", message_id="orphan-1", type="ProcessPayment")
    [outcome] = await broker.transport.publish([Publication(DEFAULT_EXCHANGE, dlq, orphan)])
    assert outcome.value == "confirmed"

    kept = await sagabus("dlq", "replay", "orphan-1", *cli)
    assert kept.code == 1 and "replayed 0, kept 1" in kept.out
    assert "names no origin queue" in kept.err
    assert await broker.transport.queue_depth(dlq) == 1

    usage = await sagabus("dlq", "replay", *cli)
    assert usage.code == 2 and "name one ID, or --all" in usage.err

    purged = await sagabus("dlq", "purge", "payments", "--yes", *cli)
    assert purged.code == 0 and f"purged 1 from {dlq}" in purged.out
    assert await broker.transport.queue_depth(dlq) == 0
