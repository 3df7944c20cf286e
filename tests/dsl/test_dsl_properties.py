"""Property tests: random event and timer sequences through the compiled order saga.

Whatever arrives, in whatever order, with whatever payload: no exception; final and
parked instances absorb everything; every compensation that runs undoes a completed
state, latest completed first, at most once; a finished compensation run ends in the
`goto` state of the transition that started it; the instance always reads back from JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dsl_support import NOW
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from saga_dsl import EventInput, Machine, SagaInstance, SendCommand, Step, TimerFired

COMPENSATION_GOTOS = frozenset({"cancelled", "releasing_inventory"})
"""The `goto` states of the `compensate: true` transitions of the order saga."""

SKUS = st.sampled_from(["BOOK-1", "OOS-2", "SLOW-3", "PEN-4"])
AMOUNTS = st.sampled_from([5.0, 9_999.0, 10_000.5, 49_000.0, 60_000.0])
TEXT = st.sampled_from(["x", "declined", "fraud"])

PAYLOADS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "PaymentSucceeded": {"payment_id": st.just("p-1"), "amount": AMOUNTS},
    "PaymentFailed": {"reason": TEXT},
    "CommandFaulted": {"command": st.sampled_from(["ProcessPayment", "ShipOrder"]),
                       "reason": TEXT},
    "PaymentRefunded": {"payment_id": st.just("p-1"), "amount": AMOUNTS},
    "OrderReviewApproved": {},
    "OrderReviewRejected": {"reason": TEXT},
    "InventoryReserved": {},
    "InventoryReleased": {},
    "InventoryUnavailable": {"sku": SKUS, "reason": TEXT},
    "OrderShipped": {"tracking_number": st.just("T-1")},
    "OrderCancellationRequested": {},
    "OrderCreated": {"customer_id": st.just("c"), "items": st.just([]), "amount": AMOUNTS},
}


@st.composite
def payloads(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A payload of `kind`; now and then with a field missing (that must park)."""
    payload: dict[str, Any] = {"order_id": "o-1"}
    for name, values in PAYLOADS[kind].items():
        payload[name] = draw(values)
    if PAYLOADS[kind] and draw(st.integers(0, 9)) == 0:
        del payload[draw(st.sampled_from(sorted(PAYLOADS[kind])))]
    return payload


@st.composite
def order_created(draw: st.DrawFn) -> EventInput:
    items = draw(
        st.lists(
            st.fixed_dictionaries(
                {"sku": SKUS, "quantity": st.integers(1, 3), "unit_price": st.just(1.0)}
            ),
            min_size=1,
            max_size=3,
        )
    )
    payload = {"order_id": "o-1", "customer_id": "c-1", "items": items, "amount": draw(AMOUNTS)}
    return EventInput("OrderCreated", payload)


def expected_events(machine: Machine, instance: SagaInstance) -> list[str]:
    """The event types the state itself reacts to (so runs get deep into the saga)."""
    if instance.compensating is not None and instance.compensating.waiting is not None:
        compensation = machine.states[instance.compensating.waiting].compensation
        return [compensation.until] if compensation is not None and compensation.until else []
    return sorted(machine.states[instance.state].on)


@st.composite
def inputs(draw: st.DrawFn, machine: Machine, instance: SagaInstance) -> EventInput | TimerFired:
    """A likely input most of the time; any event, an armed or a stale timer otherwise."""
    kind = draw(st.sampled_from(["expected"] * 5 + ["event", "timer", "timer", "stale"]))
    expected = expected_events(machine, instance)
    if kind == "expected" and expected:
        name = draw(st.sampled_from(expected))
        return EventInput(name, draw(payloads(name)))
    if kind == "timer" and instance.timers:
        return TimerFired(draw(st.sampled_from(instance.timers)))
    if kind == "stale":
        return TimerFired(draw(st.sampled_from(["retry:shipping:99:1", "timeout:nowhere:1"])))
    name = draw(st.sampled_from(sorted(PAYLOADS)))
    return EventInput(name, draw(payloads(name)))


@dataclass
class Observer:
    """Checks the invariants of one run, step by step."""

    machine: Machine
    undone_ever: list[str] = field(default_factory=list)
    expected_undo: list[str] = field(default_factory=list)

    def check(self, before: SagaInstance, step: Step) -> None:
        after = step.instance
        assert SagaInstance.from_json(json.loads(json.dumps(after.to_json()))) == after
        json.dumps([effect.to_json() for effect in step.effects])
        if before.status != "running":
            assert not step.accepted and step.effects == [] and after is before
            return
        if not step.accepted:
            assert step.effects == [] and after is before
            return
        started = before.compensating is None and (
            after.compensating is not None or after.compensated != before.compensated
        )
        if started:
            self.begin(before)
            event("compensation started")
        self.follow(step)
        run_over = (started or before.compensating is not None) and after.compensating is None
        if run_over and after.status != "parked":
            assert after.state in COMPENSATION_GOTOS
            assert self.expected_undo == []
        if after.status != "running":
            event(f"ended {after.status} in {after.state}")
        if after.compensating is None and after.status != "parked":
            assert list(after.compensated) == self.undone_ever
        assert len(set(after.compensated)) == len(after.compensated)
        assert set(after.compensated) <= set(after.completed)

    def begin(self, before: SagaInstance) -> None:
        """A compensation run started: what it must undo, in which order."""
        latest_first = list(dict.fromkeys(reversed(before.completed)))
        self.expected_undo = [
            name
            for name in latest_first
            if self.machine.states[name].compensation is not None and name not in before.compensated
        ]

    def follow(self, step: Step) -> None:
        for effect in step.effects:
            if not isinstance(effect, SendCommand) or effect.compensates is None:
                continue
            name = effect.compensates
            if self.undone_ever and self.undone_ever[-1] == name:
                continue  # a resend while waiting for `until`
            assert name not in self.undone_ever, f"{name} undone twice"
            assert self.expected_undo and self.expected_undo[0] == name, (
                f"undid {name}, expected {self.expected_undo}"
            )
            self.expected_undo.pop(0)
            self.undone_ever.append(name)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start=order_created(), data=st.data())
def test_random_inputs_keep_every_invariant(
    order_machine: Machine, start: EventInput, data: st.DataObject
) -> None:
    step = order_machine.start(start, NOW)
    observer = Observer(order_machine)
    for _ in range(data.draw(st.integers(0, 40), label="length")):
        before = step.instance
        step = order_machine.handle(before, data.draw(inputs(order_machine, before)), NOW)
        observer.check(before, step)


def test_the_compensating_transitions_of_the_order_saga_go_where_the_property_expects(
    order_machine: Machine,
) -> None:
    targets = {edge.target for edge in order_machine.transitions if edge.compensate}
    assert targets == COMPENSATION_GOTOS


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(start=order_created(), data=st.data())
def test_a_finished_instance_never_changes_again(
    order_machine: Machine, start: EventInput, data: st.DataObject
) -> None:
    step = order_machine.start(start, NOW)
    finished: SagaInstance | None = None
    for _ in range(60):
        step = order_machine.handle(
            step.instance, data.draw(inputs(order_machine, step.instance)), NOW
        )
        if finished is not None:
            assert step.instance is finished and not step.accepted
        elif step.instance.status != "running":
            finished = step.instance
