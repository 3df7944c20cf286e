"""The event-sourced orders service: same messages out as before, events in the stream."""

from __future__ import annotations

import pytest
import structlog

from bus.eventsourcing import EventStore, Repository
from bus.store import Store
from bus.unitofwork.endpoint import HandlerContext
from bus.wire.contracts import Message
from bus.wire.envelope import Envelope
from handlers.messages import (
    CancelOrder,
    CompleteOrder,
    CreateOrder,
    OrderItem,
    OrderShipped,
    PaymentSucceeded,
)
from handlers.orders import OrderAggregate, OrderStatus, order_stream, orders

ITEMS = [OrderItem(sku="A-1", quantity=1, unit_price=20.0)]


async def deliver(store: Store, message: Message, correlation_id: str | None = None) -> Envelope:
    """Runs the orders service on one message as the pipeline does: one transaction,
    what the handler published written to the outbox in it. Returns the delivery."""
    envelope = Envelope.of(message, correlation_id=correlation_id)
    async with store.transaction() as tx:
        ctx = HandlerContext(
            endpoint="orders",
            tx=tx,
            message=envelope,
            contract=message,
            log=structlog.get_logger("test"),
        )
        await orders.handle(envelope, ctx)
        await tx.outbox_add(ctx.outgoing)
    return envelope


async def published(store: Store) -> list[Envelope]:
    async with store.transaction() as tx:
        return [envelope for _, envelope in await tx.outbox_pending()]


async def stream_types(store: Store, order_id: str) -> list[str]:
    async with store.transaction() as tx:
        return [r.type for r in await EventStore(tx).read(order_stream(order_id))]


def create(order_id: str = "o1") -> CreateOrder:
    return CreateOrder(order_id=order_id, customer_id="c1", items=ITEMS, amount=20.0)


async def test_create_order_publishes_order_created_once_per_order_id(store: Store) -> None:
    first = await deliver(store, create(), correlation_id="conv-1")
    await deliver(store, create())  # another message, same order id
    out = await published(store)
    assert [e.type for e in out] == ["OrderCreated"]
    assert out[0].correlation_id == "conv-1" and out[0].causation_id == first.message_id
    assert out[0].payload["order_id"] == "o1" and out[0].payload["amount"] == 20.0
    async with store.transaction() as tx:
        [recorded] = await EventStore(tx).read("order-o1")
    assert recorded.message_id == out[0].message_id
    assert recorded.metadata["correlation_id"] == "conv-1"


async def paid_order(store: Store) -> None:
    """Order o1, created and paid."""
    await deliver(store, create())
    await deliver(store, PaymentSucceeded(order_id="o1", payment_id="pay-1", amount=20.0))


SHIPPED = OrderShipped(order_id="o1", tracking_number="TRK-1")
COMPLETE = CompleteOrder(order_id="o1", tracking_number="TRK-1")


@pytest.mark.parametrize(
    "last_steps",
    [
        pytest.param([SHIPPED, COMPLETE, COMPLETE], id="shipped then completed twice"),
        pytest.param([COMPLETE, SHIPPED], id="the shipment from the command, the event late"),
    ],
)
async def test_a_completed_order_records_every_step_and_publishes_order_completed_once(
    store: Store, last_steps: list[Message]
) -> None:
    await paid_order(store)
    for message in last_steps:
        await deliver(store, message)
    assert await stream_types(store, "o1") == [
        "OrderCreated",
        "OrderPaid",
        "OrderShipped",
        "OrderCompleted",
    ]
    # OrderShipped is shipping's to publish, not ours
    assert [e.type for e in await published(store)] == [
        "OrderCreated",
        "OrderPaid",
        "OrderCompleted",
    ]
    async with store.transaction() as tx:
        order = await Repository(OrderAggregate, tx).load("o1")
    assert order.status is OrderStatus.COMPLETED and order.state.tracking_number == "TRK-1"


async def test_cancel_order_publishes_order_cancelled_once_and_then_nothing_completes(
    store: Store,
) -> None:
    await paid_order(store)
    await deliver(store, CancelOrder(order_id="o1", reason="out of stock"))
    await deliver(store, CancelOrder(order_id="o1", reason="out of stock"))
    await deliver(store, CompleteOrder(order_id="o1", tracking_number="TRK-1"))
    await deliver(store, OrderShipped(order_id="o1", tracking_number="TRK-1"))
    out = await published(store)
    assert [e.type for e in out] == ["OrderCreated", "OrderPaid", "OrderCancelled"]
    assert out[2].payload == {"order_id": "o1", "reason": "out of stock"}
    assert await stream_types(store, "o1") == ["OrderCreated", "OrderPaid", "OrderCancelled"]


async def test_a_completed_order_is_not_cancelled(store: Store) -> None:
    await deliver(store, create())
    await deliver(store, CompleteOrder(order_id="o1", tracking_number="TRK-1"))
    await deliver(store, CancelOrder(order_id="o1", reason="too late"))
    assert [e.type for e in await published(store)] == ["OrderCreated", "OrderCompleted"]


async def test_commands_and_events_for_an_unknown_order_change_nothing(store: Store) -> None:
    await deliver(store, CompleteOrder(order_id="nope", tracking_number="TRK-1"))
    await deliver(store, CancelOrder(order_id="nope", reason="x"))
    await deliver(store, PaymentSucceeded(order_id="nope", payment_id="p", amount=1.0))
    await deliver(store, OrderShipped(order_id="nope", tracking_number="TRK-1"))
    assert await published(store) == []
    assert await stream_types(store, "nope") == []
