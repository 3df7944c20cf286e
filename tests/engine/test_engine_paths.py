"""Every path of the order saga on the real broker, on SQLite and on PostgreSQL: where
each instance ends, what its history says it did, and what the services did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from engine_support import (
    APPROVED,
    COMPLETED,
    DECLINED,
    OUT_OF_STOCK,
    REJECTED,
    SHIPPING_ATTEMPTS,
    SILENT_SHIPPER,
    Eventually,
    Order,
    Path_,
    SideEffects,
    all_finished,
    assert_outcomes,
    history,
    instances,
    place,
    plan,
    sends,
    serving,
    side_effects,
    timer_firings,
)
from support.broker import TestBroker

import handlers.messages as m
from bus.settings import Settings
from bus.store import SagaRecord, Store
from bus.store.base import HistoryRecord
from bus.wire.client import BusClient

pytestmark = pytest.mark.integration


async def run(
    settings: Settings, store: Store, sagas: Path, path: Path_, count: int = 2
) -> tuple[dict[str, SagaRecord], SideEffects]:
    """Places `count` orders on `path` and waits for them; each must end on its path."""
    orders = plan(count, prefix=path.name.replace(" ", "-"), paths=[path])
    async with serving(settings, store, sagas):
        await place(settings, orders)
        records = await all_finished(store, settings, orders, within=30)
        effects = await notified(store, records, within=30)
    assert_outcomes(orders, records, effects)
    return records, effects


async def notified(
    store: Store, records: Mapping[str, SagaRecord], within: float
) -> SideEffects:
    """The side effects once notifications (one hop after the saga's end) told every
    customer; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        effects = await side_effects(store)
        if set(records) <= set(effects.notifications):
            return effects
        if time.monotonic() > deadline:
            pytest.fail(f"customers not notified within {within}s: {sorted(records)}")
        await asyncio.sleep(0.05)


def states(steps: Sequence[HistoryRecord]) -> list[str]:
    return [step.to_state for step in steps]


async def test_happy_path_completes_and_publishes_order_completed(
    broker: TestBroker, settings: Settings, store: Store, sagas: Path
) -> None:
    completed = await broker.probe_queue("OrderCompleted", "OrderCancelled")
    records, effects = await run(settings, store, sagas, COMPLETED)
    for order_id, record in records.items():
        assert record.status == "completed"
        steps = await history(store, record)
        assert states(steps) == ["awaiting_payment", "reserving_inventory", "shipping",
                                 "completed"]
        assert [step.input for step in steps] == [
            "OrderCreated", "PaymentSucceeded", "InventoryReserved", "OrderShipped"
        ]
        for command in ("ProcessPayment", "ReserveInventory", "ShipOrder", "CompleteOrder"):
            assert sends(steps, command) == 1, command
        assert record.data["tracking_number"].startswith("TRK-")
        assert effects.notifications[order_id]["kind"] == "completed"
    published = [d.envelope() for d in await broker.take_all(completed)]
    assert sorted(e.payload["order_id"] for e in published) == sorted(records)
    assert {e.type for e in published} == {"OrderCompleted"}


async def test_declined_payment_cancels_without_charge_or_refund(
    broker: TestBroker, settings: Settings, store: Store, sagas: Path
) -> None:
    records, effects = await run(settings, store, sagas, DECLINED)
    for order_id, record in records.items():
        assert record.status == "failed"
        assert record.data["reason"].startswith("payment failed: amount 60000.00 exceeds")
        steps = await history(store, record)
        assert states(steps) == ["awaiting_payment", "cancelled"]
        assert sends(steps, "RefundPayment") == 0
        assert sends(steps, "CancelOrder") == 1
        assert effects.notifications[order_id]["kind"] == "cancelled"
    assert effects.charges == effects.refunds == effects.reservations == {}


async def test_unavailable_inventory_refunds_once_and_cancels(
    broker: TestBroker, settings: Settings, store: Store, sagas: Path
) -> None:
    records, effects = await run(settings, store, sagas, OUT_OF_STOCK)
    for record in records.values():
        steps = await history(store, record)
        assert [step.input for step in steps] == [
            "OrderCreated", "PaymentSucceeded", "InventoryUnavailable", "PaymentRefunded"
        ]
        assert sends(steps, "RefundPayment") == 1
        assert sends(steps, "ReleaseInventory") == 0  # the reservation never completed
        assert record.machine["compensated"] == ["awaiting_payment"]
        assert record.data["reason"].startswith("out of stock: OOS-LAMP")
    assert len(effects.refunds) == len(records)


async def test_silent_shipper_is_resent_to_then_timed_out_with_compensation(
    broker: TestBroker, settings: Settings, store: Store, sagas: Path
) -> None:
    records, _ = await run(settings, store, sagas, SILENT_SHIPPER)
    for record in records.values():
        assert record.data["reason"] == "the shipper did not answer"
        steps = await history(store, record)
        assert sends(steps, "ShipOrder") == 1 + SHIPPING_ATTEMPTS
        fired = timer_firings(steps)
        assert sum(n for name, n in fired.items() if name.startswith("timer retry:shipping")) \
            == SHIPPING_ATTEMPTS
        assert [name for name in fired if name.startswith("timer timeout:")] == [
            "timer timeout:shipping:3"
        ]
        assert set(fired.values()) == {1}
        # undone latest first: the stock, then the payment
        undo = [e["type"] for step in steps for e in step.effects if e.get("compensates")]
        assert undo == ["ReleaseInventory", "RefundPayment"]
        assert record.machine["compensated"] == ["reserving_inventory", "awaiting_payment"]
        async with store.transaction() as tx:
            assert await tx.timers_of(record.id) == []


@pytest.mark.parametrize("decision", [APPROVED, REJECTED], ids=["approved", "rejected"])
async def test_manual_review_decides_between_shipping_and_refund(
    broker: TestBroker, settings: Settings, store: Store, sagas: Path, decision: Path_
) -> None:
    records, _ = await run(settings, store, sagas, decision, count=1)
    for record in records.values():
        steps = await history(store, record)
        assert states(steps)[:2] == ["awaiting_payment", "manual_review"]
        if decision is APPROVED:
            assert states(steps)[2:] == ["reserving_inventory", "shipping", "completed"]
            assert sends(steps, "RefundPayment") == 0
        else:
            # compensating, the instance stays in the state it left until the refund came
            assert [(step.input, step.to_state) for step in steps[2:]] == [
                ("OrderReviewRejected", "manual_review"), ("PaymentRefunded", "cancelled")
            ]
            assert record.data["reason"] == "rejected in review: too good to be true"
            assert sends(steps, "RefundPayment") == 1


async def test_customer_cancellation_in_any_state_refunds_and_cancels(
    broker: TestBroker, settings: Settings, store: Store, sagas: Path, eventually: Eventually
) -> None:
    order = Order("changed-mind-1", APPROVED)  # waits in manual_review: nobody decides
    async with serving(settings, store, sagas):
        await place(settings, [order])

        async def in_review() -> bool:
            record = (await instances(store)).get(order.order_id)
            return record is not None and record.state == "manual_review"

        await eventually(in_review, 20)
        async with BusClient(settings) as client:
            await client.publish(m.OrderCancellationRequested(order_id=order.order_id))

        async def finished() -> SagaRecord | None:
            record = (await instances(store))[order.order_id]
            return record if record.status != "running" else None

        record = await eventually(finished, 20)
    assert (record.state, record.data["reason"]) == ("cancelled",
                                                     "cancelled at the customer's request")
    steps = await history(store, record)
    assert [s.input for s in steps][-2:] == ["OrderCancellationRequested", "PaymentRefunded"]
    effects = await side_effects(store)
    assert set(effects.charges) == set(effects.refunds) == {order.order_id}
    assert effects.reservations == {}
