"""Property tests: random event and timer sequences through the compiled order saga.

Whatever arrives, in whatever order, with whatever payload: no exception; final
instances absorb everything, parked ones everything but the late confirmation they
waited for; every compensation that runs undoes a completed state, latest completed
first, at most once; a finished compensation run ends in the `goto` state of the
transition that started it; the instance always reads back from JSON.

The runs are derandomized (the same examples every time, in CI and here), and enough of
them that together they take every arrow of the saga: every transition from every
state, the cancellation request in each, every step of the compensation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dsl_support import NOW
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from order_edges import Arrow, all_arrows, arrow

from saga_dsl import EventInput, Machine, SagaInstance, SendCommand, Step, TimerFired

CANCEL = "OrderCancellationRequested"

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
    if PAYLOADS[kind] and draw(st.integers(0, 9)) == 5:  # not 0, which Hypothesis favours
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
    """The event types the state itself reacts to (so runs get deep into the saga); the
    first is the likeliest, as Hypothesis favours the first of a `sampled_from`."""
    if instance.compensating is not None and instance.compensating.waiting is not None:
        compensation = machine.states[instance.compensating.waiting].compensation
        return [compensation.until] if compensation is not None and compensation.until else []
    return list(machine.states[instance.state].on)  # in the file's order: onwards first


ANSWERING = ("expected",) * 5 + ("event", "timer", "stale", CANCEL)
SILENT = ("timer",) * 5 + ("expected", "event", "stale", CANCEL)
# (Hypothesis favours the first element of a `sampled_from`; the others come evenly.)
"""How inputs are drawn where the participant answers, and where it is silent (retries
run out, timeouts fire, compensations are resent until the instance parks)."""


def place(instance: SagaInstance) -> str:
    """Where an instance waits: its state, or `undo <state>` while compensating."""
    run = instance.compensating
    return f"undo {run.waiting}" if run is not None and run.waiting else instance.state


def places(machine: Machine) -> list[str]:
    undoing = [f"undo {n}" for n, s in machine.states.items() if s.compensation is not None]
    return sorted([n for n, s in machine.states.items() if s.end is None] + undoing)


@st.composite
def silences(draw: st.DrawFn, machine: Machine) -> frozenset[str]:
    """Where a run's participants are silent: each place, one time in two."""
    every = places(machine)
    quiet = draw(st.lists(st.booleans(), min_size=len(every), max_size=len(every)))
    return frozenset(p for p, q in zip(every, quiet, strict=True) if q)


@st.composite
def inputs(
    draw: st.DrawFn, machine: Machine, instance: SagaInstance, silent: frozenset[str] = frozenset()
) -> EventInput | TimerFired:
    """A likely input most of the time; any event, an armed or a stale timer otherwise."""
    kind = draw(st.sampled_from(SILENT if place(instance) in silent else ANSWERING))
    expected = expected_events(machine, instance)
    if kind == "expected" and expected:
        name = draw(st.sampled_from(expected))
        return EventInput(name, draw(payloads(name)))
    if kind == "timer" and instance.timers:
        return TimerFired(draw(st.sampled_from(instance.timers)))
    if kind == "stale":
        return TimerFired(draw(st.sampled_from(["retry:shipping:99:1", "timeout:nowhere:1"])))
    if kind == CANCEL:
        return EventInput(CANCEL, {"order_id": "o-1"})
    name = draw(st.sampled_from(sorted(PAYLOADS)))
    return EventInput(name, draw(payloads(name)))


@dataclass
class Observer:
    """Checks the invariants of one run, step by step."""

    machine: Machine
    undone_ever: list[str] = field(default_factory=list)
    expected_undo: list[str] = field(default_factory=list)
    after_end: int = 0

    def check(self, before: SagaInstance, step: Step) -> None:
        after = step.instance
        assert SagaInstance.from_json(json.loads(json.dumps(after.to_json()))) == after
        json.dumps([effect.to_json() for effect in step.effects])
        if before.status == "parked" and step.accepted:
            # only the confirmation the parked compensation waited for, arriving late
            run = before.compensating
            assert run is not None and run.waiting is not None
            event("late confirmation after parking")
            before = before.evolve(status="running", park_reason=None)
        if before.status != "running":
            assert not step.accepted and step.effects == [] and after is before
            self.after_end += 1
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
        self.follow(before, step)
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

    def follow(self, before: SagaInstance, step: Step) -> None:
        waiting = before.compensating.waiting if before.compensating is not None else None
        for effect in step.effects:
            if not isinstance(effect, SendCommand) or effect.compensates is None:
                continue
            name = effect.compensates
            if name == waiting and self.undone_ever[-1:] == [name]:
                continue  # a resend of the undo being waited for, on its timer
            assert name not in self.undone_ever, f"{name} undone twice"
            assert self.expected_undo and self.expected_undo[0] == name, (
                f"undid {name}, expected {self.expected_undo}"
            )
            self.expected_undo.pop(0)
            self.undone_ever.append(name)


MAX_STEPS = 60
"""Inputs a run tries at most; it stops earlier once finished or parked."""

AFTER_END = 3
"""Inputs a run still tries on a finished or parked instance (which must ignore them)."""

EXAMPLES = 1000
"""Enough derandomized runs to take every arrow of the order saga (checked below)."""

PAID_SMALL = ("PaymentSucceeded", 5.0)
PAID_BIG = ("PaymentSucceeded", 20_000.0)
WAYPOINTS: tuple[tuple[str | tuple[str, float], ...], ...] = (
    (),  # awaiting_payment
    ("timeout",),  # voiding_payment
    (PAID_BIG,),  # manual_review
    (PAID_SMALL,),  # reserving_inventory
    (PAID_SMALL, "timeout"),  # undoing awaiting_payment on the way to releasing_inventory
    (PAID_SMALL, "timeout", ("PaymentRefunded", 5.0)),  # releasing_inventory
    (PAID_SMALL, ("InventoryReserved", 0.0)),  # shipping
)
"""Where a run starts its random inputs: each state is a few answers away from the
start, and a run that starts in it reaches it whatever the draws (a timer kind, or an
event with its amount)."""


def toward(instance: SagaInstance, hop: str | tuple[str, float]) -> EventInput | TimerFired:
    if isinstance(hop, str):
        (name,) = [t for t in instance.timers if t.startswith(hop + ":")]
        return TimerFired(name)
    kind, amount = hop
    return EventInput(kind, {"order_id": "o-1", "payment_id": "p-1", "amount": amount})


def test_random_inputs_keep_every_invariant_and_take_every_arrow(
    order_machine: Machine,
) -> None:
    taken: set[Arrow] = set()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(start=order_created(), data=st.data())
    def run(start: EventInput, data: st.DataObject) -> None:
        step = order_machine.start(start, NOW)
        observer = Observer(order_machine)
        silent = data.draw(silences(order_machine), label="silent")
        waypoint = data.draw(st.sampled_from(WAYPOINTS), label="waypoint")
        for index in range(len(waypoint) + MAX_STEPS):  # a drawn length would be short
            before = step.instance
            if before.status != "running" and observer.after_end >= AFTER_END:
                break
            if index < len(waypoint):
                given_input = toward(before, waypoint[index])
            else:
                given_input = data.draw(inputs(order_machine, before, silent))
            step = order_machine.handle(before, given_input, NOW)
            observer.check(before, step)
            if step.accepted:
                taken.add(arrow(before, given_input, step.instance))

    run()
    assert all_arrows(order_machine) - taken == set()


def test_the_compensating_transitions_of_the_order_saga_go_where_the_property_expects(
    order_machine: Machine,
) -> None:
    targets = {edge.target for edge in order_machine.transitions if edge.compensate}
    assert targets == COMPENSATION_GOTOS


@settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
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
        elif step.instance.status in ("completed", "failed"):
            finished = step.instance
