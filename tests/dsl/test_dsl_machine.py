"""The pure state machine, path by path through the showcase order saga."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from dsl_support import NOW, SHOWCASE, started_by_go

import saga_dsl
from saga_dsl import (
    ArmTimer,
    CancelTimer,
    EventInput,
    Finished,
    Machine,
    Parked,
    SagaInstance,
    SendCommand,
    Step,
    TimerFired,
)

ORDER = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": 12.5}],
    "amount": 25.0,
}


def start(machine: Machine, **changes: Any) -> Step:
    return machine.start(EventInput("OrderCreated", {**ORDER, **changes}, "m-1"), NOW)


def event(machine: Machine, step: Step, kind: str, **payload: Any) -> Step:
    return machine.handle(step.instance, EventInput(kind, {"order_id": "o-1", **payload}), NOW)


def fire(machine: Machine, step: Step, prefix: str) -> Step:
    (name,) = [t for t in step.instance.timers if t.startswith(prefix)]
    return machine.handle(step.instance, TimerFired(name), NOW)


def sent(step: Step) -> list[tuple[str, str | None]]:
    return [(e.type, e.compensates) for e in step.effects if isinstance(e, SendCommand)]


def paid(machine: Machine, amount: float = 25.0) -> Step:
    step = start(machine, amount=amount)
    return event(machine, step, "PaymentSucceeded", payment_id="p-1", amount=amount)


def shipping(machine: Machine) -> Step:
    return event(machine, paid(machine), "InventoryReserved")


def test_machine_describes_itself(order_machine: Machine) -> None:
    assert order_machine.name == "order_processing"
    assert order_machine.version == 1
    assert order_machine.start_event == "OrderCreated"
    assert order_machine.correlate == "order_id"
    assert order_machine.listens_to == {
        "OrderCreated",
        "PaymentSucceeded",
        "PaymentFailed",
        "CommandFaulted",
        "PaymentRefunded",
        "OrderReviewApproved",
        "OrderReviewRejected",
        "InventoryReserved",
        "InventoryUnavailable",
        "InventoryReleased",
        "OrderShipped",
        "OrderCancellationRequested",
    }
    assert len(order_machine.digest) == 64


def test_digest_follows_the_file_content() -> None:
    text = SHOWCASE.read_text()
    from_file = saga_dsl.load(SHOWCASE).definition
    from_text = saga_dsl.load(text).definition
    changed = saga_dsl.load(text.replace("after: 6s", "after: 7s")).definition
    assert from_file is not None and from_text is not None and changed is not None
    assert from_file.digest == from_text.digest
    assert changed.digest != from_text.digest


def test_start_captures_data_and_enters_the_initial_state(order_machine: Machine) -> None:
    step = start(order_machine)
    assert (step.from_state, step.to_state, step.accepted) == (None, "awaiting_payment", True)
    assert step.instance.data == {
        "order_id": "o-1",
        "customer_id": "c-1",
        "amount": 25.0,
        "items": ORDER["items"],
    }
    assert step.effects == [
        SendCommand("ProcessPayment", {"order_id": "o-1", "amount": 25.0}),
        ArmTimer("retry:awaiting_payment:1:1", timedelta(seconds=2)),
        ArmTimer("timeout:awaiting_payment:1", timedelta(seconds=10)),
    ]


def test_start_refuses_an_event_that_is_not_the_start_event(order_machine: Machine) -> None:
    with pytest.raises(ValueError, match="starts on OrderCreated"):
        order_machine.start(EventInput("PaymentFailed", {}), NOW)


def test_happy_path_completes_with_the_tracking_number(order_machine: Machine) -> None:
    step = shipping(order_machine)
    assert sent(step) == [("ShipOrder", None)]
    step = event(order_machine, step, "OrderShipped", tracking_number="T-9")
    assert step.instance.status == "completed"
    assert step.instance.completed == ("awaiting_payment", "reserving_inventory", "shipping")
    assert (
        SendCommand("CompleteOrder", {"order_id": "o-1", "tracking_number": "T-9"}) in step.effects
    )
    assert step.effects[-1] == Finished("success")
    assert step.instance.timers == ()
    assert {e.name for e in step.effects if isinstance(e, CancelTimer)} == {
        "retry:shipping:3:1",
        "timeout:shipping:3",
    }


def test_big_amount_goes_through_manual_review(order_machine: Machine) -> None:
    step = paid(order_machine, amount=20_000.0)
    assert step.to_state == "manual_review"
    step = event(order_machine, step, "OrderReviewApproved")
    assert step.to_state == "reserving_inventory"


def test_review_rejection_refunds_then_cancels(order_machine: Machine) -> None:
    step = paid(order_machine, amount=20_000.0)
    step = event(order_machine, step, "OrderReviewRejected", reason="fraud")
    assert sent(step) == [("RefundPayment", "awaiting_payment")]
    step = event(order_machine, step, "PaymentRefunded", payment_id="p-1", amount=20_000.0)
    assert step.instance.state == "cancelled"
    assert SendCommand(
        "CancelOrder", {"order_id": "o-1", "reason": "rejected in review: fraud"}
    ) in (step.effects)


def test_declined_payment_cancels_without_compensating(order_machine: Machine) -> None:
    step = event(order_machine, start(order_machine), "PaymentFailed", reason="declined")
    assert sent(step) == [("CancelOrder", None)]
    assert step.effects[-1] == Finished("failure")
    assert step.instance.data["reason"] == "payment failed: declined"


def test_missing_stock_refunds_the_payment_and_waits_for_the_refund(
    order_machine: Machine,
) -> None:
    step = event(
        order_machine, paid(order_machine), "InventoryUnavailable", sku="OOS-1", reason="none"
    )
    assert sent(step) == [("RefundPayment", "awaiting_payment")]
    assert step.instance.compensating is not None
    ignored = event(order_machine, step, "InventoryReserved")
    assert not ignored.accepted and ignored.instance is step.instance
    step = event(order_machine, step, "PaymentRefunded", payment_id="p-1", amount=25.0)
    assert step.instance.state == "cancelled"
    assert step.instance.compensated == ("awaiting_payment",)
    assert step.instance.data["reason"] == "out of stock: OOS-1 (none)"


def test_silent_shipper_is_retried_then_everything_is_undone_latest_first(
    order_machine: Machine,
) -> None:
    step = shipping(order_machine)
    step = fire(order_machine, step, "retry:")
    assert sent(step) == [("ShipOrder", None)]
    step = fire(order_machine, step, "retry:")
    assert sent(step) == [("ShipOrder", None)]
    assert not [t for t in step.instance.timers if t.startswith("retry:")]
    step = fire(order_machine, step, "timeout:")
    assert sent(step) == [
        ("ReleaseInventory", "reserving_inventory"),
        ("RefundPayment", "awaiting_payment"),
    ]
    step = event(order_machine, step, "PaymentRefunded", payment_id="p-1", amount=25.0)
    assert step.instance.state == "cancelled"
    assert step.instance.compensated == ("reserving_inventory", "awaiting_payment")
    assert "shipping" not in step.instance.completed


def test_a_refund_that_never_comes_parks_the_instance(order_machine: Machine) -> None:
    step = event(
        order_machine, paid(order_machine), "InventoryUnavailable", sku="OOS-1", reason="x"
    )
    for _ in range(5):  # the showcase resends the refund 5 times
        step = fire(order_machine, step, "compensate:")
        assert sent(step) == [("RefundPayment", "awaiting_payment")]
    step = fire(order_machine, step, "compensate:")
    assert step.instance.status == "parked"
    assert "PaymentRefunded never came" in (step.instance.park_reason or "")
    assert isinstance(step.effects[-1], Parked)


def test_any_transition_applies_in_every_non_final_state(order_machine: Machine) -> None:
    early = event(order_machine, start(order_machine), "OrderCancellationRequested")
    assert early.instance.state == "cancelled"
    assert sent(early) == [("CancelOrder", None)]
    late = event(order_machine, shipping(order_machine), "OrderCancellationRequested")
    assert sent(late)[0] == ("ReleaseInventory", "reserving_inventory")


def test_final_states_absorb_everything(order_machine: Machine) -> None:
    done = event(order_machine, shipping(order_machine), "OrderShipped", tracking_number="T")
    for given in (
        EventInput("OrderCancellationRequested", {"order_id": "o-1"}),
        EventInput("PaymentFailed", {"order_id": "o-1", "reason": "x"}),
        TimerFired("timeout:shipping:3"),
    ):
        step = order_machine.handle(done.instance, given, NOW)
        assert not step.accepted
        assert step.effects == []
        assert step.instance is done.instance


def test_an_event_the_state_does_not_expect_is_not_accepted(order_machine: Machine) -> None:
    step = start(order_machine)
    ignored = event(order_machine, step, "OrderShipped", tracking_number="T")
    assert not ignored.accepted and ignored.instance is step.instance


def test_a_timer_that_was_cancelled_is_ignored(order_machine: Machine) -> None:
    step = paid(order_machine)
    stale = order_machine.handle(step.instance, TimerFired("timeout:awaiting_payment:1"), NOW)
    assert not stale.accepted


def test_a_missing_payload_field_parks_instead_of_raising(order_machine: Machine) -> None:
    step = start(order_machine)
    parked = event(order_machine, step, "PaymentSucceeded", amount=25.0)
    assert parked.instance.status == "parked"
    assert parked.instance.state == "awaiting_payment"
    assert "payment_id" in (parked.instance.park_reason or "")
    assert parked.effects == [
        CancelTimer("retry:awaiting_payment:1:1"),
        CancelTimer("timeout:awaiting_payment:1"),
        Parked(parked.instance.park_reason or ""),
    ]


def test_a_start_event_missing_data_gives_a_parked_instance(order_machine: Machine) -> None:
    step = order_machine.start(EventInput("OrderCreated", {"order_id": "o-1"}), NOW)
    assert step.instance.status == "parked"
    assert "customer_id" in (step.instance.park_reason or "")


def test_a_guard_that_is_not_a_boolean_parks() -> None:
    machine = started_by_go(
        """\
  a:
    on:
      Go: [{if: "event.n", goto: b}, {goto: b}]
  b: {end: success}
"""
    )
    step = machine.start(EventInput("Go", {}), NOW)
    step = machine.handle(step.instance, EventInput("Go", {"n": 3}), NOW)
    assert step.instance.status == "parked"
    assert "not true or false" in (step.instance.park_reason or "")


def test_a_state_completed_twice_is_compensated_once() -> None:
    machine = started_by_go(
        """\
  a:
    on:
      Again: {goto: a}
      Fail: {compensate: true, goto: failed}
    compensate:
      send: {command: Undo}
  failed: {end: failure}
"""
    )
    step = machine.start(EventInput("Go", {}), NOW)
    step = machine.handle(step.instance, EventInput("Again", {}), NOW)
    step = machine.handle(step.instance, EventInput("Again", {}), NOW)
    step = machine.handle(step.instance, EventInput("Fail", {}), NOW)
    assert step.instance.completed == ("a", "a")
    assert sent(step) == [("Undo", "a")]
    assert step.instance.state == "failed"


def test_instances_and_effects_survive_a_json_round_trip(order_machine: Machine) -> None:
    step = event(order_machine, shipping(order_machine), "OrderCancellationRequested")
    raw = json.loads(json.dumps(step.instance.to_json()))
    assert SagaInstance.from_json(raw) == step.instance
    assert set(raw) == {"state", "status", "data", "machine"}
    json.dumps([e.to_json() for e in step.effects])
    resumed = event(
        order_machine,
        Step(SagaInstance.from_json(raw), [], True, None, ""),
        "PaymentRefunded",
        payment_id="p-1",
        amount=25.0,
    )
    assert resumed.instance.state == "cancelled"


def test_the_same_input_gives_the_same_step(order_machine: Machine) -> None:
    assert shipping(order_machine) == shipping(order_machine)


def test_an_instance_naming_unknown_states_is_parked_not_crashed(order_machine: Machine) -> None:
    raw = start(order_machine).instance.to_json()
    raw["machine"]["compensating"] = {"target": "gone", "pending": ["awaiting_payment"]}
    raw["machine"]["completed"] = ["awaiting_payment"]
    instance = SagaInstance.from_json(raw)
    step = order_machine.handle(instance, EventInput("PaymentRefunded", {"order_id": "o-1"}), NOW)
    assert step.instance.status == "parked"
    assert step.instance.park_reason == "state 'gone' is not in order_processing v1"
