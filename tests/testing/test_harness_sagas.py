"""The order saga (`sagas/order_processing.yaml`) with the example services, driven
through the harness: its happy path, compensations, a human decision, and its timers
fired by advancing the clock instead of waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

import handlers.messages as m
from bus.store import SagaRecord
from handlers.inventory import RESERVATIONS
from handlers.notifications import SENT
from handlers.payments import CHARGES, REFUNDS
from saga_dsl.testing import SagaHarness

SAGAS = Path(__file__).resolve().parents[2] / "sagas"
SAGA = "order_processing"


@pytest.fixture
async def harness() -> AsyncIterator[SagaHarness]:
    async with SagaHarness(services="handlers", sagas=SAGAS) as h:
        yield h


def order(order_id: str, sku: str, amount: float) -> m.CreateOrder:
    item = m.OrderItem(sku=sku, quantity=2, unit_price=amount / 2)
    return m.CreateOrder(order_id=order_id, customer_id="c-1", items=[item], amount=amount)


async def instance(h: SagaHarness, order_id: str) -> SagaRecord:
    record = await h.saga(SAGA, order_id)
    assert record is not None, f"no saga instance for {order_id}"
    return record


async def placed(h: SagaHarness, order_id: str, sku: str, amount: float) -> SagaRecord:
    """The order's saga instance once the harness is idle after the order was sent."""
    await h.send(order(order_id, sku, amount))
    await h.wait_idle()
    return await instance(h, order_id)


async def test_the_happy_path_completes_the_order(harness: SagaHarness) -> None:
    record = await placed(harness, "o-1", "BOOK-1", 120.0)
    assert (record.state, record.status) == ("completed", "completed")
    steps = await harness.history(record)
    assert [s.to_state for s in steps] == [
        "awaiting_payment", "reserving_inventory", "shipping", "completed"
    ]
    assert [e.type for e in harness.sent] == [
        "CreateOrder", "ProcessPayment", "ReserveInventory", "ShipOrder", "CompleteOrder"
    ]
    assert harness.published_of(m.OrderCompleted) == [m.OrderCompleted(order_id="o-1")]
    assert [e.type for e in harness.consumed_by("saga.order_processing")] == [
        "OrderCreated", "PaymentSucceeded", "InventoryReserved", "OrderShipped"
    ]
    commands = [e for e in harness.sent if e.type != "CreateOrder"]
    assert {e.correlation_id for e in commands} == {record.id}
    notice = await harness.state(SENT, "o-1")
    assert notice is not None and notice["kind"] == "completed"
    assert harness.dead_letters == [] and harness.faults == []


async def test_missing_stock_refunds_the_payment_and_cancels(harness: SagaHarness) -> None:
    record = await placed(harness, "o-2", "OOS-LAMP", 80.0)
    assert (record.state, record.status) == ("cancelled", "failed")
    assert record.data["reason"].startswith("out of stock: OOS-LAMP")
    [refund] = harness.sent_of(m.RefundPayment)
    assert (refund.order_id, refund.amount) == ("o-2", 80.0)
    assert [e.order_id for e in harness.published_of(m.PaymentRefunded)] == ["o-2"]
    assert harness.sent_of(m.ReleaseInventory) == []  # nothing was reserved
    assert harness.sent_of(m.CancelOrder)[0].reason == record.data["reason"]
    assert [e.order_id for e in harness.published_of(m.OrderCancelled)] == ["o-2"]
    assert await harness.state(CHARGES, "o-2") is not None
    assert await harness.state(REFUNDS, "o-2") is not None


async def test_a_declined_payment_cancels_with_nothing_to_undo(harness: SagaHarness) -> None:
    record = await placed(harness, "o-3", "YACHT-1", 60_000.0)
    assert (record.state, record.status) == ("cancelled", "failed")
    assert harness.sent_of(m.RefundPayment) == []
    assert await harness.state(CHARGES, "o-3") is None


async def test_a_big_order_waits_for_review_and_completes_when_approved(
    harness: SagaHarness,
) -> None:
    assert (await placed(harness, "o-4", "PIANO-1", 20_000.0)).state == "manual_review"
    await harness.publish(m.OrderReviewApproved(order_id="o-4"))
    await harness.wait_idle()
    assert (await instance(harness, "o-4")).state == "completed"


async def test_a_silent_shipper_is_asked_again_then_given_up_on_by_advancing_time(
    harness: SagaHarness,
) -> None:
    assert (await placed(harness, "o-5", "SLOW-SOFA", 95.0)).state == "shipping"
    assert len(harness.sent_of(m.ShipOrder)) == 1

    assert await harness.fire_timers(advance=timedelta(seconds=1)) == 0
    assert await harness.fire_timers(advance=timedelta(seconds=2)) == 1  # retry after 2s
    assert len(harness.sent_of(m.ShipOrder)) == 2
    assert (await instance(harness, "o-5")).state == "shipping"

    assert await harness.fire_timers(advance=timedelta(seconds=10)) == 2  # retry, timeout
    record = await instance(harness, "o-5")
    assert (record.state, record.status) == ("cancelled", "failed")
    assert record.data["reason"] == "the shipper did not answer"
    assert len(harness.sent_of(m.ShipOrder)) == 3
    # compensation runs latest first: the stock, then the payment
    undo = [e.type for e in harness.sent if e.type in ("ReleaseInventory", "RefundPayment")]
    assert undo == ["ReleaseInventory", "RefundPayment"]
    reservation = await harness.state(RESERVATIONS, "o-5")
    assert reservation is not None and reservation["released"] is True
    assert await harness.state(REFUNDS, "o-5") is not None
    assert await harness.fire_timers(advance=timedelta(hours=1)) == 0


async def test_timers_fire_only_when_asked(harness: SagaHarness) -> None:
    await harness.send(order("o-6", "PIANO-1", 20_000.0))
    await harness.wait_idle()
    assert await harness.fire_timers() == 0
    assert (await instance(harness, "o-6")).state == "manual_review"
    assert await harness.fire_timers(advance=timedelta(seconds=30)) == 1
    record = await instance(harness, "o-6")
    assert (record.state, record.data["reason"]) == ("cancelled", "no review decision within 30s")
    assert [e.order_id for e in harness.published_of(m.PaymentRefunded)] == ["o-6"]


async def test_fire_timers_needs_a_running_harness() -> None:
    h = SagaHarness(services="handlers", sagas=SAGAS)
    with pytest.raises(RuntimeError, match="not running"):
        await h.fire_timers()
