"""Payments: charges and refunds, at most once per order whatever the redeliveries."""

from __future__ import annotations

import hashlib

from bus import HandlerContext, Service
from handlers.messages import (
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
    ProcessPayment,
    RefundPayment,
)

PAYMENT_LIMIT = 50_000.0
"""Payments above this amount are declined."""

CHARGES = "payments.charges"
REFUNDS = "payments.refunds"
VOIDS = "payments.voids"
"""Orders refunded before any charge: a charge asked for later is declined."""

payments = Service("payments")


def payment_id_for(order_id: str) -> str:
    return "pay-" + hashlib.sha256(order_id.encode()).hexdigest()[:16]


@payments.handles(ProcessPayment, emits=[PaymentSucceeded, PaymentFailed])
async def process_payment(cmd: ProcessPayment, ctx: HandlerContext) -> None:
    """Charges once per order: a resent command answers with the first outcome."""
    if cmd.amount > PAYMENT_LIMIT:
        ctx.publish(
            PaymentFailed(
                order_id=cmd.order_id,
                reason=f"amount {cmd.amount:.2f} exceeds the limit of {PAYMENT_LIMIT:.2f}",
            )
        )
        return
    # both in one store call (the void's name locked too, after the charge's)
    charge, void = await ctx.tx.state_get_many(
        [(CHARGES, cmd.order_id), (VOIDS, cmd.order_id)], for_update=True
    )
    if charge is None and void is not None:
        ctx.publish(PaymentFailed(order_id=cmd.order_id, reason="the payment was voided"))
        return
    if charge is None:
        charge = {"payment_id": payment_id_for(cmd.order_id), "amount": cmd.amount}
        await ctx.tx.state_put(CHARGES, cmd.order_id, charge)
    ctx.publish(
        PaymentSucceeded(
            order_id=cmd.order_id, payment_id=charge["payment_id"], amount=charge["amount"]
        )
    )


@payments.handles(RefundPayment, emits=[PaymentRefunded])
async def refund_payment(cmd: RefundPayment, ctx: HandlerContext) -> None:
    """Refunds a charge once; refunding before any charge voids the order's payment
    (a later charge is declined); refunding a refunded payment changes nothing."""
    charge, refunded = await ctx.tx.state_get_many(
        [(CHARGES, cmd.order_id), (REFUNDS, cmd.order_id)], for_update=True
    )
    if charge is None:
        await ctx.tx.state_put(VOIDS, cmd.order_id, {"amount": cmd.amount})
    elif refunded is None:
        await ctx.tx.state_put(
            REFUNDS, cmd.order_id, {"payment_id": charge["payment_id"], "amount": charge["amount"]}
        )
    ctx.publish(
        PaymentRefunded(order_id=cmd.order_id, payment_id=cmd.payment_id, amount=cmd.amount)
    )
