"""Shipping: hands orders to the carrier; SKUs starting `SLOW-` are never answered."""

from __future__ import annotations

import hashlib

import structlog

from bus import HandlerContext, Service
from handlers.messages import OrderShipped, ShipOrder

SILENT_PREFIX = "SLOW-"
SHIPMENTS = "shipping.shipments"

shipping = Service("shipping")
log = structlog.get_logger("handlers.shipping")


def tracking_number_for(order_id: str) -> str:
    return "TRK-" + hashlib.sha256(order_id.encode()).hexdigest()[:12].upper()


@shipping.handles(ShipOrder, emits=[OrderShipped])
async def ship(cmd: ShipOrder, ctx: HandlerContext) -> None:
    silent = [item.sku for item in cmd.items if item.sku.startswith(SILENT_PREFIX)]
    if silent:
        log.info("carrier does not answer", order_id=cmd.order_id, skus=silent)
        return
    # the first shipment of the order stands (one statement: read, or put if none)
    shipment = await ctx.tx.state_setdefault(
        SHIPMENTS, cmd.order_id, {"tracking_number": tracking_number_for(cmd.order_id)}
    )
    ctx.publish(
        OrderShipped(order_id=cmd.order_id, tracking_number=shipment["tracking_number"])
    )
