"""Notifications: reacts by choreography to finished orders and records what it would
tell the customer (no orchestrator involved)."""

from __future__ import annotations

from bus import HandlerContext, Service
from handlers.messages import OrderCancelled, OrderCompleted

SENT = "notifications.sent"

notifications = Service("notifications")


@notifications.on(OrderCompleted)
async def order_completed(event: OrderCompleted, ctx: HandlerContext) -> None:
    await ctx.tx.state_put(
        SENT,
        event.order_id,
        {"kind": "completed", "text": f"Your order {event.order_id} is on its way."},
    )


@notifications.on(OrderCancelled)
async def order_cancelled(event: OrderCancelled, ctx: HandlerContext) -> None:
    await ctx.tx.state_put(
        SENT,
        event.order_id,
        {
            "kind": "cancelled",
            "text": f"Your order {event.order_id} was cancelled: {event.reason}.",
        },
    )
