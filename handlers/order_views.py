"""The `orders` read model: one document per order, kept by a projection.

Documents live in the state namespace `ORDER_VIEWS`, keyed by order id, and answer
"where is my order" without replaying its stream. The projection follows the global
event log (`sagabus projection status|rebuild|resume orders`); the daemon runs it.
"""

from __future__ import annotations

from typing import Any

from bus import Transaction
from bus.eventsourcing import Projection, RecordedEvent, on
from handlers.messages import OrderCancelled, OrderCompleted, OrderCreated, OrderPaid, OrderShipped
from handlers.orders import order_stream

ORDER_VIEWS = "orders.views"


class OrderViews(Projection):
    name = "orders"
    namespaces = (ORDER_VIEWS,)

    @on(OrderCreated)
    async def created(self, tx: Transaction, recorded: RecordedEvent[OrderCreated]) -> None:
        event = recorded.event
        if recorded.stream_id != order_stream(event.order_id):
            return
        await tx.state_put(
            ORDER_VIEWS,
            event.order_id,
            {
                "order_id": event.order_id,
                "customer_id": event.customer_id,
                "items": [item.model_dump(mode="json") for item in event.items],
                "amount": event.amount,
                "status": "pending",
                "created_at": recorded.recorded_at.isoformat(),
                "updated_at": recorded.recorded_at.isoformat(),
                "version": recorded.version,
            },
        )

    @on(OrderPaid)
    async def paid(self, tx: Transaction, recorded: RecordedEvent[OrderPaid]) -> None:
        await self._update(tx, recorded, status="paid", payment_id=recorded.event.payment_id)

    @on(OrderShipped)
    async def shipped(self, tx: Transaction, recorded: RecordedEvent[OrderShipped]) -> None:
        await self._update(
            tx, recorded, status="shipped", tracking_number=recorded.event.tracking_number
        )

    @on(OrderCompleted)
    async def completed(self, tx: Transaction, recorded: RecordedEvent[OrderCompleted]) -> None:
        await self._update(tx, recorded, status="completed")

    @on(OrderCancelled)
    async def cancelled(self, tx: Transaction, recorded: RecordedEvent[OrderCancelled]) -> None:
        await self._update(tx, recorded, status="cancelled", reason=recorded.event.reason)

    async def _update(
        self,
        tx: Transaction,
        recorded: RecordedEvent[OrderPaid | OrderShipped | OrderCompleted | OrderCancelled],
        **changes: Any,
    ) -> None:
        order_id = recorded.event.order_id
        # these types may be recorded in other streams too; only the order's own counts
        if recorded.stream_id != order_stream(order_id):
            return
        view = await tx.state_get(ORDER_VIEWS, order_id)
        if view is None:
            return
        view.update(changes, updated_at=recorded.recorded_at.isoformat(), version=recorded.version)
        await tx.state_put(ORDER_VIEWS, order_id, view)
