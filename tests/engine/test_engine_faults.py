"""Fault events on real RabbitMQ: a command a saga sent is dead-lettered, the bus
publishes `CommandFaulted`, and the order saga voids the payment at once instead of
waiting for its 10 s timeout."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from engine_support import (
    all_finished,
    dead_letters,
    history,
    place,
    plan,
)
from support.broker import TestBroker

import handlers.messages as m
from bus import HandlerContext, RetryPolicy, Service
from bus.settings import Settings
from bus.store import open_store
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import Bus
from handlers import payments as payments_module
from saga_dsl.engine.wiring import SagaRuntime

pytestmark = pytest.mark.integration

broken_payments = Service("payments", retry=RetryPolicy(attempts=1))


@broken_payments.handles(m.ProcessPayment)
async def process_payment(cmd: m.ProcessPayment, ctx: HandlerContext) -> None:
    raise RuntimeError("the card processor is down")


broken_payments.handles(m.RefundPayment)(payments_module.refund_payment)


@pytest.mark.parametrize("payments", [broken_payments], ids=["payments that fail"])
async def test_dead_lettered_payment_command_voids_the_order_at_once(
    broker: TestBroker,
    settings: Settings,
    store_url: str,
    runtime: SagaRuntime,
    endpoints: Sequence[Endpoint],
) -> None:
    [order] = plan(1, prefix="faulted")
    async with open_store(store_url) as store:
        await runtime.pin(store)
        async with Bus(settings, store, endpoints, background=[runtime.scheduler]):
            await place(settings, [order])
            # well before the payment's 10 s timeout could decide anything
            records = await all_finished(store, settings, [order], 8)
            steps = await history(store, records[order.order_id])
        assert await dead_letters(settings, endpoints) == {
            f"{settings.namespace}.payments.dlq": 1
        }
    record = records[order.order_id]
    assert (record.state, record.status) == ("cancelled", "failed")
    assert record.data["reason"] == (
        "the payment command failed: RuntimeError: the card processor is down"
    )
    assert [(s.input, s.to_state) for s in steps[1:]] == [
        ("CommandFaulted", "voiding_payment"),
        ("PaymentRefunded", "cancelled"),
    ]
    reacted = (steps[1].at - steps[0].at).total_seconds()
    assert reacted < 1.0, f"the saga heard of the dead letter after {reacted:.2f}s"
