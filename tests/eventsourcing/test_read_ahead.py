"""An event-sourced service reads the streams of a batch in one statement (`prepare`,
`loads=` on its handlers) before the pipeline hands it the batch's deliveries, on both
stores: a delivery after another one of the same batch for the same aggregate sees what
that one appended, and what a batch read ahead is never used in another transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import structlog

from bus.eventsourcing import Loads, Repository
from bus.store import Store
from bus.store.base import Transaction
from bus.unitofwork.endpoint import BatchReader, HandlerContext
from bus.wire.contracts import Message
from bus.wire.envelope import Envelope
from handlers.messages import CompleteOrder, CreateOrder, OrderItem, PaymentSucceeded
from handlers.orders import OrderAggregate, OrderStatus, orders

from .domain import SnapshottedTally, Tally, TallyAdded

ITEMS = [OrderItem(sku="A-1", quantity=1, unit_price=20.0)]


class Counting:
    """A transaction that counts the event reads made through it."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("events_read"):
            self.calls[name] = self.calls.get(name, 0) + 1
        return getattr(self.tx, name)


async def handle_batch(
    tx: Transaction, messages: Sequence[Message], *, prepared: bool = True, handled: bool = True
) -> None:
    """As the pipeline handles a batch in one transaction: `prepare` first (unless a
    delivery runs alone), then each delivery (unless the batch fails before)."""
    envelopes = [Envelope.of(m) for m in messages]
    assert isinstance(orders, BatchReader)
    if prepared:
        await orders.prepare(tx, envelopes)
    for envelope, message in zip(envelopes, messages, strict=True) if handled else ():
        ctx = HandlerContext(
            endpoint="orders", tx=tx, message=envelope, contract=message,
            log=structlog.get_logger("test"),
        )
        await orders.handle(envelope, ctx)


def create(order_id: str) -> CreateOrder:
    return CreateOrder(order_id=order_id, customer_id="c", items=ITEMS, amount=20.0)


def pay(order_id: str) -> PaymentSucceeded:
    return PaymentSucceeded(order_id=order_id, payment_id="p", amount=20.0)


async def order(store: Store, order_id: str) -> OrderAggregate:
    async with store.transaction() as tx:
        return await Repository(OrderAggregate, tx).load(order_id)


async def test_a_delivery_sees_what_an_earlier_one_of_its_batch_appended(store: Store) -> None:
    async with store.transaction() as tx:
        await handle_batch(tx, [create("o1"), pay("o1"), CompleteOrder(
            order_id="o1", tracking_number="t")])
    done = await order(store, "o1")
    assert (done.status, done.version) == (OrderStatus.COMPLETED, 4)


async def test_the_batch_streams_are_read_in_one_statement_and_loaded_from_it(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        counting = Counting(tx)
        await handle_batch(cast(Transaction, counting), [create("o1"), create("o2"), pay("o1")])
    # o1 and o2 read at once; o1 read again after the first delivery appended to it
    assert counting.calls == {"events_read_many": 1, "events_read": 1}
    assert [(await order(store, o)).status for o in ("o1", "o2")] == [
        OrderStatus.PAID, OrderStatus.PENDING
    ]


async def test_what_a_batch_read_ahead_is_not_used_in_another_transaction(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        await handle_batch(tx, [create("o1")])
    # the batch read o1 at version 1, then failed before its first delivery; each of
    # its deliveries then runs alone and must read o1 as the one before left it
    async with store.transaction() as tx:
        await handle_batch(tx, [pay("o1")], handled=False)
    for message in (pay("o1"), CompleteOrder(order_id="o1", tracking_number="t")):
        async with store.transaction() as tx:
            await handle_batch(tx, [message], prepared=False)
    done = await order(store, "o1")
    assert (done.status, done.version) == (OrderStatus.COMPLETED, 4)


def test_a_stream_is_read_ahead_only_when_the_message_names_it_and_without_snapshots() -> None:
    added = Envelope.of(TallyAdded(tally_id="t1", by=1))
    assert Loads(Tally, "tally_id").stream(added) == "tally-t1"
    assert Loads(Tally, "order_id").stream(added) is None
    # loading starts from the newest snapshot, as without a read-ahead
    assert Loads(SnapshottedTally, "tally_id").stream(added) is None
