"""Aggregates without a store: replay, recording, dispatch, snapshots, the order rules."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from bus.eventsourcing import (
    Aggregate,
    InvariantViolation,
    UnappliableEvent,
    aggregate_for_stream,
    applies,
)
from bus.wire.contracts import Event
from handlers.messages import OrderItem
from handlers.orders import OrderAggregate, OrderStatus

from .domain import SnapshottedTally, Tally, TallyAdded, TallyOpened

ITEMS = [OrderItem(sku="A-1", quantity=2, unit_price=5.0)]


def test_from_events_rebuilds_state_and_version() -> None:
    tally = Tally.from_events(
        "t1", [TallyOpened(tally_id="t1", owner="ann"), TallyAdded(tally_id="t1", by=4)]
    )
    assert tally.version == 2
    assert tally.state.total == 4 and tally.state.owner == "ann"
    assert tally.pending == ()


def test_recorded_events_change_state_and_wait_to_be_saved() -> None:
    tally = Tally.from_events("t1", [TallyOpened(tally_id="t1", owner="ann")])
    tally.add(3)
    tally.add(4)
    assert tally.state.total == 7
    assert tally.version == 1
    assert tally.pending == (TallyAdded(tally_id="t1", by=3), TallyAdded(tally_id="t1", by=4))
    tally.saved()
    assert tally.version == 3 and tally.pending == ()


def test_a_command_against_the_state_raises_and_records_nothing() -> None:
    tally = Tally("t1")
    with pytest.raises(InvariantViolation, match="not open"):
        tally.add(1)
    assert tally.pending == () and not tally.exists


def test_an_event_without_an_apply_method_is_a_clear_error() -> None:
    class Stranger(Event):
        x: int

    with pytest.raises(UnappliableEvent, match="Tally has no @applies method for Stranger"):
        Tally.from_events("t1", [Stranger(x=1)])


def test_two_methods_for_one_event_type_are_refused() -> None:
    class State(BaseModel):
        n: int = 0

    with pytest.raises(TypeError, match="both"):

        class Twice(Aggregate[State]):
            def initial_state(self) -> State:
                return State()

            @applies(TallyAdded)
            def one(self, event: TallyAdded) -> None: ...

            @applies(TallyAdded)
            def two(self, event: TallyAdded) -> None: ...


def test_snapshot_round_trip_and_a_snapshot_of_another_schema_is_ignored() -> None:
    tally = Tally.from_events(
        "t1", [TallyOpened(tally_id="t1", owner="ann"), TallyAdded(tally_id="t1", by=4)]
    )
    data = tally.snapshot()
    restored = Tally.from_snapshot("t1", 2, data)
    assert restored is not None
    assert restored.state == tally.state and restored.version == 2
    assert Tally.from_snapshot("t1", 2, {**data, "schema": 99}) is None
    assert Tally.from_snapshot("t1", 2, {"schema": 1, "state": {"total": "many"}}) is None


def test_streams_find_their_aggregate_by_category() -> None:
    assert aggregate_for_stream("order-42") is OrderAggregate
    assert aggregate_for_stream("stally-x-1") is SnapshottedTally
    assert aggregate_for_stream("nothing-1") is None
    assert aggregate_for_stream("plain") is None
    assert OrderAggregate.id_of("order-a-b") == "a-b"


def test_order_follows_the_articles_state_checks() -> None:
    order = OrderAggregate("o1")
    with pytest.raises(InvariantViolation, match="not pending"):
        order.pay("pay-1", 10.0)
    order.create("c1", ITEMS, 10.0)
    with pytest.raises(InvariantViolation, match="already exists"):
        order.create("c1", ITEMS, 10.0)
    with pytest.raises(InvariantViolation, match="not paid"):
        order.ship("TRK-1")
    order.pay("pay-1", 10.0)
    order.ship("TRK-1")
    with pytest.raises(InvariantViolation, match="has shipped"):
        order.cancel("too late")
    order.complete()
    assert order.status is OrderStatus.COMPLETED
    with pytest.raises(InvariantViolation, match="cannot complete"):
        order.complete()
    assert [e.message_type() for e in order.pending] == [
        "OrderCreated",
        "OrderPaid",
        "OrderShipped",
        "OrderCompleted",
    ]


def test_a_cancelled_order_cannot_complete() -> None:
    order = OrderAggregate("o1")
    order.create("c1", ITEMS, 10.0)
    order.cancel("customer changed their mind")
    assert order.state.cancel_reason == "customer changed their mind"
    with pytest.raises(InvariantViolation, match="cancelled"):
        order.complete()
