"""Inventory: stock levels in the store; all-or-nothing reservations per order."""

from __future__ import annotations

from bus import HandlerContext, Service
from handlers.messages import (
    InventoryReleased,
    InventoryReserved,
    InventoryUnavailable,
    ReleaseInventory,
    ReserveInventory,
)

INITIAL_STOCK = 1_000_000
"""Units a SKU starts with the first time it is seen (SKUs starting `OOS-` start at 0)."""

OUT_OF_STOCK_PREFIX = "OOS-"
STOCK = "inventory.stock"
RESERVATIONS = "inventory.reservations"

inventory = Service("inventory")


def initial_stock(sku: str) -> int:
    return 0 if sku.startswith(OUT_OF_STOCK_PREFIX) else INITIAL_STOCK


async def _stock(ctx: HandlerContext, sku: str) -> dict[str, int]:
    level = await ctx.tx.state_get(STOCK, sku, for_update=True)
    if level is None:
        start = initial_stock(sku)
        level = {"initial": start, "available": start}
    return {"initial": int(level["initial"]), "available": int(level["available"])}


@inventory.handles(ReserveInventory, emits=[InventoryReserved, InventoryUnavailable])
async def reserve(cmd: ReserveInventory, ctx: HandlerContext) -> None:
    """Reserves every line or none; a resent command answers with the first outcome,
    and an order whose reservation was voided takes nothing."""
    # Locked: two copies of the command (a saga's resend) must not both reserve.
    if await ctx.tx.state_get(RESERVATIONS, cmd.order_id, for_update=True) is not None:
        ctx.publish(InventoryReserved(order_id=cmd.order_id))
        return
    wanted: dict[str, int] = {}
    for item in cmd.items:
        wanted[item.sku] = wanted.get(item.sku, 0) + item.quantity
    levels = {sku: await _stock(ctx, sku) for sku in sorted(wanted)}
    for sku, quantity in wanted.items():
        if levels[sku]["available"] < quantity:
            ctx.publish(
                InventoryUnavailable(
                    order_id=cmd.order_id,
                    sku=sku,
                    reason=f"{quantity} wanted, {levels[sku]['available']} available",
                )
            )
            return
    for sku, quantity in wanted.items():
        level = levels[sku]
        await ctx.tx.state_put(
            STOCK, sku, {"initial": level["initial"], "available": level["available"] - quantity}
        )
    await ctx.tx.state_put(RESERVATIONS, cmd.order_id, {"items": wanted, "released": False})
    ctx.publish(InventoryReserved(order_id=cmd.order_id))


@inventory.handles(ReleaseInventory, emits=[InventoryReleased])
async def release(cmd: ReleaseInventory, ctx: HandlerContext) -> None:
    """Returns a reservation's stock once; releasing before any reservation voids the
    order's reservation (a later ReserveInventory takes no stock)."""
    reservation = await ctx.tx.state_get(RESERVATIONS, cmd.order_id, for_update=True)
    if reservation is None:
        # released before reserved (the saga gave up waiting): void the order, so a
        # reservation that arrives late takes nothing
        await ctx.tx.state_put(RESERVATIONS, cmd.order_id, {"items": {}, "released": True})
    elif not reservation["released"]:
        for sku, quantity in sorted(reservation["items"].items()):
            level = await _stock(ctx, sku)
            await ctx.tx.state_put(
                STOCK,
                sku,
                {"initial": level["initial"], "available": level["available"] + int(quantity)},
            )
        await ctx.tx.state_put(
            RESERVATIONS, cmd.order_id, {"items": reservation["items"], "released": True}
        )
    ctx.publish(InventoryReleased(order_id=cmd.order_id))
