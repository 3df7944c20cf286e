"""The message contracts of the example order services.

Every class here registers itself by its name in `bus.wire.contracts.registry` when this
module is imported; the saga in `sagas/order_processing.yaml` refers to them by name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bus.wire.contracts import Command, Event


class OrderItem(BaseModel):
    """One line of an order (a value inside messages, never sent on its own)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unit_price: float = Field(ge=0)


# -- orders ------------------------------------------------------------------------------
class CreateOrder(Command):
    order_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    items: list[OrderItem] = Field(min_length=1)
    amount: float = Field(ge=0)


class CancelOrder(Command):
    order_id: str
    reason: str


class CompleteOrder(Command):
    order_id: str
    tracking_number: str


class OrderCreated(Event):
    order_id: str
    customer_id: str
    items: list[OrderItem]
    amount: float


class OrderPaid(Event):
    """The orders service recorded the payment of an order (from PaymentSucceeded)."""

    order_id: str
    payment_id: str
    amount: float


class OrderCompleted(Event):
    order_id: str


class OrderCancelled(Event):
    order_id: str
    reason: str


class OrderCancellationRequested(Event):
    order_id: str


class OrderReviewApproved(Event):
    order_id: str


class OrderReviewRejected(Event):
    order_id: str
    reason: str


# -- payments ----------------------------------------------------------------------------
class ProcessPayment(Command):
    order_id: str
    amount: float = Field(ge=0)


class RefundPayment(Command):
    order_id: str
    payment_id: str
    amount: float = Field(ge=0)


class PaymentSucceeded(Event):
    order_id: str
    payment_id: str
    amount: float


class PaymentFailed(Event):
    order_id: str
    reason: str


class PaymentRefunded(Event):
    order_id: str
    payment_id: str
    amount: float


# -- inventory ---------------------------------------------------------------------------
class ReserveInventory(Command):
    order_id: str
    items: list[OrderItem]


class ReleaseInventory(Command):
    order_id: str


class InventoryReserved(Event):
    order_id: str


class InventoryUnavailable(Event):
    order_id: str
    sku: str
    reason: str


class InventoryReleased(Event):
    order_id: str


# -- shipping ----------------------------------------------------------------------------
class ShipOrder(Command):
    order_id: str
    items: list[OrderItem]


class OrderShipped(Event):
    order_id: str
    tracking_number: str
