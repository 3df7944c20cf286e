"""Inventory: stock levels in the store; all-or-nothing reservations per order."""

from __future__ import annotations

from typing import Any

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


def _level(sku: str, level: dict[str, Any] | None) -> dict[str, int]:
    """A SKU's stock document, or its initial stock when it has none yet."""
    if level is None:
        start = initial_stock(sku)
        level = {"initial": start, "available": start}
    return {"initial": int(level["initial"]), "available": int(level["available"])}


async def _stocks(ctx: HandlerContext, skus: list[str]) -> dict[str, dict[str, int]]:
    """The stock of `skus`, locked in that order, in one store call."""
    levels = await ctx.tx.state_get_many([(STOCK, sku) for sku in skus], for_update=True)
    return {sku: _level(sku, level) for sku, level in zip(skus, levels, strict=True)}


@inventory.handles(ReserveInventory, emits=[InventoryReserved, InventoryUnavailable])
async def reserve(cmd: ReserveInventory, ctx: HandlerContext) -> None:
    """Reserves every line or none; a resent command answers with the first outcome,
    and an order whose reservation was voided takes nothing."""
    wanted: dict[str, int] = {}
    for item in cmd.items:
        wanted[item.sku] = wanted.get(item.sku, 0) + item.quantity
    skus = sorted(wanted)
    # Locked, the reservation first: two copies of the command (a saga's resend) must
    # not both reserve. One store call for the reservation and the stock.
    reservation, *stock = await ctx.tx.state_get_many(
        [(RESERVATIONS, cmd.order_id), *((STOCK, sku) for sku in skus)], for_update=True
    )
    if reservation is not None:
        ctx.publish(InventoryReserved(order_id=cmd.order_id))
        return
    levels = {sku: _level(sku, level) for sku, level in zip(skus, stock, strict=True)}
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
    await ctx.tx.state_put_many([
        *(
            (STOCK, sku, {"initial": levels[sku]["initial"],
                          "available": levels[sku]["available"] - quantity})
            for sku, quantity in wanted.items()
        ),
        (RESERVATIONS, cmd.order_id, {"items": wanted, "released": False}),
    ])
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
        items = dict(sorted(reservation["items"].items()))
        levels = await _stocks(ctx, list(items))
        await ctx.tx.state_put_many([
            *(
                (STOCK, sku, {"initial": levels[sku]["initial"],
                              "available": levels[sku]["available"] + int(quantity)})
                for sku, quantity in items.items()
            ),
            (RESERVATIONS, cmd.order_id, {"items": reservation["items"], "released": True}),
        ])
    ctx.publish(InventoryReleased(order_id=cmd.order_id))
