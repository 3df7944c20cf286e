"""Operator actions on real RabbitMQ: an instance parked because its refund was never
confirmed is finished by `sagabus resume`, and another one by its late confirmation.

The payments service holds its refunds back until the test lets them through; a silent
shipper makes the order saga time out in shipping and undo the payment, whose refund
is then resent once and given up on: the instance parks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from engine_cli import sagabus
from engine_support import (
    SILENT_SHIPPER,
    Eventually,
    all_finished,
    history,
    instances,
    order_saga,
    place,
    plan,
)
from support.broker import TestBroker
from support.sagas import rewrite_saga

import handlers.messages as m
from bus import HandlerContext, Service
from bus.settings import Settings
from bus.store import open_store
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import Bus
from bus.wire.client import BusClient
from handlers import payments as payments_module
from saga_dsl.engine.wiring import SagaRuntime

pytestmark = pytest.mark.integration

REFUNDS = {"open": False}
"""Whether the payments service answers refunds (it drops them while closed)."""

payments = Service("payments")
payments.handles(m.ProcessPayment)(payments_module.process_payment)


@payments.handles(m.RefundPayment)
async def refund_payment(cmd: m.RefundPayment, ctx: HandlerContext) -> None:
    if REFUNDS["open"]:
        await payments_module.refund_payment(cmd, ctx)


def quick_to_park(saga: dict[str, Any]) -> None:
    """The refund of a payment is resent twice, 2 s apart, then given up on: a resumed
    instance has 6 s for its refund, which leaves the outbox of the CLI's transaction
    with a daemon's sweep (within about 5 s) or with a resend fired by a timer."""
    saga["states"]["awaiting_payment"]["compensate"]["retry"] = {"attempts": 2, "after": "2s"}


@pytest.fixture
def sagas(tmp_path: Path) -> Path:
    directory = order_saga(tmp_path / "sagas")
    return rewrite_saga(directory, quick_to_park, source=directory / "order_processing.yaml")


@pytest.mark.parametrize("payments", [payments], ids=["refunds held back"])
async def test_parked_instances_finish_by_resume_or_by_their_late_confirmation(
    broker: TestBroker,
    settings: Settings,
    store_url: str,
    sagas: Path,
    runtime: SagaRuntime,
    endpoints: Sequence[Endpoint],
    eventually: Eventually,
) -> None:
    REFUNDS["open"] = False
    resumed, confirmed = orders = plan(2, prefix="parked", paths=[SILENT_SHIPPER])
    async with open_store(store_url) as store:
        await runtime.pin(store)
        async with Bus(settings, store, endpoints, background=[runtime.scheduler]):
            await place(settings, orders)

            async def both_parked() -> bool:
                records = await instances(store)
                return len(records) == 2 and all(
                    r.status == "parked" for r in records.values()
                )

            await eventually(both_parked, 40, what="both instances parked")
            REFUNDS["open"] = True
            code, said = await sagabus(settings.store, sagas, "resume", resumed.order_id,
                                       "--reason", "payments answers refunds again")
            assert code == 0 and said.endswith("resume: now running in shipping"), said
            async with BusClient(settings) as client:
                await client.publish(m.PaymentRefunded(
                    order_id=confirmed.order_id, payment_id="late", amount=1.0))
            records = await all_finished(store, settings, orders, 30)
            steps = {o.order_id: await history(store, records[o.order_id]) for o in orders}
        code, again = await sagabus(settings.store, sagas, "resume", resumed.order_id)
    assert code == 0, again
    assert again.endswith("nothing to resume: the instance is failed in cancelled"), again
    for order in orders:
        record = records[order.order_id]
        assert (record.state, record.status) == ("cancelled", "failed")
        assert record.data["reason"] == "the shipper did not answer"
    inputs = [s.input for s in steps[resumed.order_id]]
    assert "operator resume: payments answers refunds again" in inputs
    assert inputs[-1] == "PaymentRefunded"
    late = steps[confirmed.order_id]
    assert [(s.input, s.to_state) for s in late[-1:]] == [("PaymentRefunded", "cancelled")]
    assert not any(s.input.startswith("operator") for s in late)
