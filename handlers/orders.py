"""Orders: an event-sourced aggregate per order, stream `order-<order_id>`.

Commands: CreateOrder (-> OrderCreated, which starts the order saga), CompleteOrder
(-> OrderCompleted), CancelOrder (-> OrderCancelled). The service also records the
facts of the order's life that other services publish: PaymentSucceeded becomes
OrderPaid, and OrderShipped is kept in the stream as it is. Every recorded event is
published through the outbox in the handler's transaction, except OrderShipped, which
the shipping service published already.

Repeated commands are idempotent: creating an existing order, completing a completed
one or cancelling a cancelled one changes nothing and publishes nothing; so does
completing a cancelled order or cancelling a finished one (the first outcome stands).
Two deliveries racing on one order conflict on the stream version; the loser is
retried by the pipeline and then finds the order changed.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from bus import HandlerContext, Service
from bus.eventsourcing import Aggregate, InvariantViolation, Loads, Repository, applies
from handlers.messages import (
    CancelOrder,
    CompleteOrder,
    CreateOrder,
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderItem,
    OrderPaid,
    OrderShipped,
    PaymentSucceeded,
)

orders = Service("orders")


class OrderStatus(StrEnum):
    NEW = "new"
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


FINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})


class OrderState(BaseModel):
    """What an order is, rebuilt from its events."""

    status: OrderStatus = OrderStatus.NEW
    customer_id: str | None = None
    items: list[OrderItem] = Field(default_factory=list)
    amount: float = 0.0
    payment_id: str | None = None
    tracking_number: str | None = None
    cancel_reason: str | None = None


class OrderAggregate(Aggregate[OrderState]):
    """An order's life: pending -> paid -> shipped -> completed, or cancelled before
    it shipped. The state checks are the source article's `OrderAggregate`'s."""

    category = "order"

    def initial_state(self) -> OrderState:
        return OrderState()

    @property
    def status(self) -> OrderStatus:
        return self.state.status

    # -- commands --------------------------------------------------------------------
    def create(self, customer_id: str, items: list[OrderItem], amount: float) -> None:
        if self.status is not OrderStatus.NEW:
            raise InvariantViolation(f"order {self.id} already exists")
        self.record(
            OrderCreated(order_id=self.id, customer_id=customer_id, items=items, amount=amount)
        )

    def pay(self, payment_id: str, amount: float) -> None:
        if self.status is not OrderStatus.PENDING:
            raise InvariantViolation(f"order {self.id} is {self.status}, not pending")
        self.record(OrderPaid(order_id=self.id, payment_id=payment_id, amount=amount))

    def ship(self, tracking_number: str) -> None:
        if self.status is not OrderStatus.PAID:
            raise InvariantViolation(f"order {self.id} is {self.status}, not paid")
        self.record(OrderShipped(order_id=self.id, tracking_number=tracking_number))

    def complete(self) -> None:
        if self.status is OrderStatus.NEW or self.status in FINAL:
            raise InvariantViolation(f"order {self.id} is {self.status}: it cannot complete")
        self.record(OrderCompleted(order_id=self.id))

    def cancel(self, reason: str) -> None:
        if self.status is OrderStatus.NEW or self.status in FINAL:
            raise InvariantViolation(f"order {self.id} is {self.status}: it cannot be cancelled")
        if self.status is OrderStatus.SHIPPED:
            raise InvariantViolation(f"order {self.id} has shipped: it cannot be cancelled")
        self.record(OrderCancelled(order_id=self.id, reason=reason))

    # -- state -----------------------------------------------------------------------
    @applies(OrderCreated)
    def _created(self, event: OrderCreated) -> None:
        self.state.status = OrderStatus.PENDING
        self.state.customer_id = event.customer_id
        self.state.items = list(event.items)
        self.state.amount = event.amount

    @applies(OrderPaid)
    def _paid(self, event: OrderPaid) -> None:
        self.state.status = OrderStatus.PAID
        self.state.payment_id = event.payment_id

    @applies(OrderShipped)
    def _shipped(self, event: OrderShipped) -> None:
        self.state.status = OrderStatus.SHIPPED
        self.state.tracking_number = event.tracking_number

    @applies(OrderCompleted)
    def _completed(self, event: OrderCompleted) -> None:
        self.state.status = OrderStatus.COMPLETED

    @applies(OrderCancelled)
    def _cancelled(self, event: OrderCancelled) -> None:
        self.state.status = OrderStatus.CANCELLED
        self.state.cancel_reason = event.reason


def order_stream(order_id: str) -> str:
    """The event stream of an order (`sagabus stream show order-<id>`)."""
    return OrderAggregate.stream_id(order_id)


BY_ORDER_ID = Loads(OrderAggregate, "order_id")
"""Every handler loads the order its message's `order_id` names: the service reads a
batch's orders at once (`bus.eventsourcing.read_ahead`)."""


def _repository(ctx: HandlerContext) -> Repository[OrderAggregate]:
    return Repository(OrderAggregate, ctx.tx, publisher=ctx.publish)


@orders.handles(CreateOrder, emits=[OrderCreated], loads=BY_ORDER_ID)
async def create_order(cmd: CreateOrder, ctx: HandlerContext) -> None:
    """Creates the order once; creating an existing order id changes nothing."""
    repository = _repository(ctx)
    order = await repository.load(cmd.order_id)
    if order.exists:
        return
    order.create(cmd.customer_id, list(cmd.items), cmd.amount)
    await repository.save(order, cause=ctx.message)


@orders.handles(CompleteOrder, emits=[OrderCompleted], loads=BY_ORDER_ID)
async def complete_order(cmd: CompleteOrder, ctx: HandlerContext) -> None:
    """Completes an open order; the command's tracking number records the shipment
    when the OrderShipped event has not reached this service yet."""
    repository = _repository(ctx)
    order = await repository.load(cmd.order_id)
    if order.status is OrderStatus.NEW or order.status in FINAL:
        ctx.log.info("order not open: nothing to complete", status=order.status.value)
        return
    if order.status is OrderStatus.PAID:
        order.ship(cmd.tracking_number)
        await repository.save(order, cause=ctx.message, publish=False)
    order.complete()
    await repository.save(order, cause=ctx.message)


@orders.handles(CancelOrder, emits=[OrderCancelled], loads=BY_ORDER_ID)
async def cancel_order(cmd: CancelOrder, ctx: HandlerContext) -> None:
    repository = _repository(ctx)
    order = await repository.load(cmd.order_id)
    if order.status is OrderStatus.NEW or order.status in FINAL:
        ctx.log.info("order not open: nothing to cancel", status=order.status.value)
        return
    if order.status is OrderStatus.SHIPPED:
        # The saga gave up on a shipper that answered after its timeout: the payment is
        # refunded already, so the parcel is a matter for returns, not a retry loop.
        ctx.log.warning("order shipped after the saga cancelled it", reason=cmd.reason)
        return
    order.cancel(cmd.reason)
    await repository.save(order, cause=ctx.message)


@orders.on(PaymentSucceeded, emits=[OrderPaid], loads=BY_ORDER_ID)
async def record_payment(event: PaymentSucceeded, ctx: HandlerContext) -> None:
    """A pending order becomes paid; a payment for an order in any other state (a
    repeat, or a late one after cancellation, which the saga refunds) is only logged."""
    repository = _repository(ctx)
    order = await repository.load(event.order_id)
    if order.status is not OrderStatus.PENDING:
        ctx.log.info("payment not recorded", status=order.status.value)
        return
    order.pay(event.payment_id, event.amount)
    await repository.save(order, cause=ctx.message)


@orders.on(OrderShipped, loads=BY_ORDER_ID)
async def record_shipment(event: OrderShipped, ctx: HandlerContext) -> None:
    """A paid order becomes shipped. Not published again: shipping published it."""
    repository = _repository(ctx)
    order = await repository.load(event.order_id)
    if order.status is not OrderStatus.PAID:
        ctx.log.info("shipment not recorded", status=order.status.value)
        return
    order.ship(event.tracking_number)
    await repository.save(order, cause=ctx.message, publish=False)
