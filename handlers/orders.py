"""Orders: creates orders (which starts the order saga), completes and cancels them."""

from __future__ import annotations

from bus import HandlerContext, Service
from handlers.messages import (
    CancelOrder,
    CompleteOrder,
    CreateOrder,
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
)

ORDERS = "orders.orders"

orders = Service("orders")


@orders.handles(CreateOrder)
async def create_order(cmd: CreateOrder, ctx: HandlerContext) -> None:
    """Creates the order once; creating an existing order id changes nothing."""
    if await ctx.tx.state_get(ORDERS, cmd.order_id, for_update=True) is not None:
        return
    await ctx.tx.state_put(
        ORDERS,
        cmd.order_id,
        {
            "customer_id": cmd.customer_id,
            "amount": cmd.amount,
            "items": [item.model_dump() for item in cmd.items],
            "status": "created",
        },
    )
    ctx.publish(
        OrderCreated(
            order_id=cmd.order_id,
            customer_id=cmd.customer_id,
            items=cmd.items,
            amount=cmd.amount,
        )
    )


async def _finish(ctx: HandlerContext, order_id: str, status: str, **extra: str) -> bool:
    order = await ctx.tx.state_get(ORDERS, order_id, for_update=True)
    if order is None or order["status"] != "created":
        return False
    await ctx.tx.state_put(ORDERS, order_id, {**order, "status": status, **extra})
    return True


@orders.handles(CompleteOrder)
async def complete_order(cmd: CompleteOrder, ctx: HandlerContext) -> None:
    if await _finish(ctx, cmd.order_id, "completed", tracking_number=cmd.tracking_number):
        ctx.publish(OrderCompleted(order_id=cmd.order_id))


@orders.handles(CancelOrder)
async def cancel_order(cmd: CancelOrder, ctx: HandlerContext) -> None:
    if await _finish(ctx, cmd.order_id, "cancelled", reason=cmd.reason):
        ctx.publish(OrderCancelled(order_id=cmd.order_id, reason=cmd.reason))
