"""The pure saga state machine: (instance, input, now) -> new instance + effects.

No I/O, no clock, no randomness: the same instance and input always give the same
step, so the engine can run it inside a store transaction and retry it freely.

Semantics (DESIGN section 6):

- Entering a state renders and emits its `send` commands and `publish` events, arms
  its retry timer (`retry:<state>:<entry>:<attempt>`) and its timeout timer
  (`timeout:<state>:<entry>`); leaving it cancels whatever is still armed.
- An event tries the current state's `on:` transitions for its type, then the `any:`
  ones, in order; the first whose `if:` holds is taken. None: the step is not
  `accepted` and nothing changes (the engine logs it).
- A retry timer resends the state's commands (not its events) until `attempts` resends
  were made. A timeout takes the timeout's transition.
- A transition without `compensate: true` completes the state it leaves. One with it
  undoes the completed states, latest first, each at most once in the instance's life,
  then enters `goto`. A compensation with `until:` waits for that event, resending on
  its retry policy (`compensate:<state>:<attempt>` timers); when the last wait runs out
  the instance is parked with the reason. While compensating, only the awaited event
  and the compensation timer are accepted.
- Final states accept nothing; a parked instance only the late `until` event of the
  compensation whose wait ran out (it goes on from there). Operator actions
  (`resume`, `retry`, `goto`, `cancel`) move an instance by hand.
- Timer names are unique within an instance; a timer that is not armed any more (it
  fired after being cancelled) is ignored.

Expressions that fail at run time (a field missing from a payload, a wrong type, a guard
that is not a boolean) never raise out of `handle`: the step parks the instance instead,
discarding the effects it had computed, with a reason naming the expression. A parked
instance keeps the state it was in when the input arrived. One exception: an expression
over its cost budget on an event's data raises `OverBudget` out of `handle` and `start`
(the message is at fault, not the instance, so it goes the retry and dead-letter way;
a timer over budget parks the instance, as there is no message to dead-letter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from saga_dsl.compiler import Edge, Table
from saga_dsl.effects import (
    ArmTimer,
    CancelTimer,
    Effect,
    EventInput,
    Finished,
    Input,
    Parked,
    PublishEvent,
    SendCommand,
    TimerFired,
)
from saga_dsl.expressions import EvaluationError, OverBudget, Scope
from saga_dsl.instance import Compensating, SagaInstance
from saga_dsl.saga_definition import (
    Action,
    Assignment,
    CompensationDefinition,
    StateDefinition,
    TransitionDefinition,
)

NO_EVENT: Mapping[str, Any] = {}
TIMEOUT_TIMER = "timeout:"
"""The prefix of a state's timeout timer (`timeout:<state>:<entry>`); others are retries."""


class _Stuck(Exception):
    """The instance cannot go on: the step parks it with this reason."""


class OperationRefused(Exception):
    """An operator action that does not apply to the instance (the message says why)."""


@dataclass(frozen=True)
class Step:
    """The outcome of one input.

    `instance` is the new instance (the same object when not `accepted`), `effects` what
    the engine must do, `from_state`/`to_state` the state before and after (`from_state`
    is None for the step that started the instance).
    """

    instance: SagaInstance
    effects: list[Effect]
    accepted: bool
    from_state: str | None
    to_state: str


class Machine:
    """A compiled saga. Build one with `saga_dsl.compile(definition)`.

    Attributes: `name`, `version`, `digest` (SHA-256 of the file's text, so the engine
    can refuse a changed file whose version did not change), `start_event`, `correlate`
    (payload field, or None), `listens_to` (every event type the saga reacts to),
    `states` (name -> `StateDefinition`), `transitions` (every `Edge`), `definition`.
    """

    def __init__(self, table: Table) -> None:
        definition = table.definition
        self.definition = definition
        self.name = definition.name
        self.version = definition.version
        self.digest = definition.digest
        self.start_event = definition.start_event
        self.correlate = definition.correlate
        self.initial = definition.initial
        self.listens_to: frozenset[str] = table.listens_to
        self.states: Mapping[str, StateDefinition] = definition.states
        self.transitions: tuple[Edge, ...] = table.edges
        self._routes = table.routes

    def __repr__(self) -> str:
        return f"<Machine {self.name} v{self.version} {len(self.states)} states>"

    def start(self, event: EventInput, now: datetime) -> Step:
        """Creates an instance from its start event and enters the initial state.

        Raises ValueError if `event` is not the start event (an engine bug); an
        expression that fails gives a parked instance in the initial state.
        """
        if event.type != self.start_event:
            raise ValueError(f"saga {self.name} starts on {self.start_event}, not {event.type}")
        fresh = SagaInstance(state=self.initial, status="running", data={})
        run = _Run(self, fresh, now)
        try:
            data = run.assign(self.definition.start_assignments, event.payload)
            run.instance = fresh.evolve(data=data)
            run.enter(self.initial)
        except (EvaluationError, _Stuck) as exc:
            parked = Machine.park(fresh, f"start: {exc}")
            return Step(parked.instance, parked.effects, True, None, self.initial)
        return Step(run.instance, run.effects, True, None, run.instance.state)

    def handle(self, instance: SagaInstance, given: Input, now: datetime) -> Step:
        """Applies one event or timer to `instance`. Never raises for bad data.

        A parked instance accepts one thing: the `until` event of the compensation whose
        wait ran out (a late confirmation), and goes on from there."""
        if instance.status == "parked" and self._awaited(instance, given):
            instance = instance.evolve(status="running", park_reason=None)
        if instance.status != "running":
            return _ignored(instance)
        unknown = _unknown_states(instance, self.states)
        if unknown:
            return Machine.park(
                instance, f"state {unknown!r} is not in {self.name} v{self.version}"
            )
        run = _Run(self, instance, now)
        try:
            accepted = run.dispatch(given)
        except OverBudget as exc:
            if isinstance(given, EventInput):
                raise  # the message brought the data: it is retried, then dead-lettered
            return Machine.park(instance, f"in state {instance.state!r}: {exc}")
        except (EvaluationError, _Stuck) as exc:
            return Machine.park(instance, f"in state {instance.state!r}: {exc}")
        if not accepted:
            return _ignored(instance)
        return Step(run.instance, run.effects, True, instance.state, run.instance.state)

    @staticmethod
    def park(instance: SagaInstance, reason: str, *, from_state: str | None = "") -> Step:
        """The step that parks `instance` where it is, for a person, with `reason`: its
        timers cancelled, nothing else done. `from_state` defaults to its state (None
        for an instance that the step creates)."""
        effects: list[Effect] = [CancelTimer(name) for name in instance.timers]
        effects.append(Parked(reason))
        parked = instance.evolve(status="parked", park_reason=reason, timers=())
        before = instance.state if from_state == "" else from_state
        return Step(parked, effects, True, before, instance.state)

    def resume(self, instance: SagaInstance, now: datetime) -> Step:
        """Operator action: a parked instance runs again, retrying what parked it (a
        compensation whose `until` never came is sent and awaited again; otherwise the
        state is entered again, its commands sent and its timers armed). Not accepted
        for an instance that is not parked."""
        if instance.status != "parked":
            return _ignored(instance)
        run = self._operating(instance.evolve(status="running", park_reason=None), now)
        waiting = instance.compensating
        if waiting is not None:
            run.compensate(Compensating(waiting.target, waiting.pending))
        else:
            run.enter(instance.state)
        return run.step(instance.state)

    def retry(self, instance: SagaInstance, now: datetime) -> Step:
        """Operator action: sends the current state's commands again (while a
        compensation is awaited, that compensation's)."""
        self._refuse_unless_running(instance, "retry")
        run = _Run(self, instance, now)
        waiting = instance.compensating
        if waiting is not None and waiting.waiting is not None:
            run.emit(run.compensation_of(waiting.waiting).actions, compensates=waiting.waiting)
        else:
            run.emit(a for a in self.states[instance.state].entry if a.kind == "command")
        if not run.effects:
            raise OperationRefused(f"state {instance.state!r} sends no command to retry")
        return run.step(instance.state)

    def goto(self, instance: SagaInstance, state: str, now: datetime) -> Step:
        """Operator action: a forced move into `state` (a parked or compensating instance
        too): timers cancelled, any compensation run dropped, `state` entered."""
        if state not in self.states:
            raise OperationRefused(
                f"no state {state!r} in {self.name} v{self.version}; its states: "
                + ", ".join(self.states)
            )
        if instance.status in ("completed", "failed"):
            raise OperationRefused(f"the instance is {instance.status}: it cannot move")
        if instance.status == "running" and instance.state == state:
            return _ignored(instance)
        run = self._operating(instance.evolve(status="running", park_reason=None), now)
        run.instance = run.instance.evolve(compensating=None)
        run.enter(state)
        return run.step(instance.state)

    def cancel(self, instance: SagaInstance, now: datetime) -> Step:
        """Operator action: compensate now, like a cancel request: the saga's own
        cancellation (the first compensating transition of the state into an `end:
        failure` state, its `set:` included) is taken; a saga without one has its
        completed states undone, latest first, then its first `end: failure` state
        entered."""
        if instance.status in ("completed", "failed"):
            return _ignored(instance)
        target = next((n for n, s in self.states.items() if s.end == "failure"), None)
        if target is None:
            raise OperationRefused(f"{self.name} has no `end: failure` state to cancel into")
        run = self._operating(instance.evolve(status="running", park_reason=None), now)
        cancelling = next((
            t for ts in self.routes(instance.state).values() for t in ts
            if t.compensate and t.guard is None and self.states[t.goto].end == "failure"
        ), None)
        if cancelling is not None:
            run.instance = run.instance.evolve(compensating=None)
            run.take(cancelling, NO_EVENT)
        elif instance.compensating is not None:  # undoing already: finish there
            run.instance = run.instance.evolve(compensating=None)
            run.compensate(replace(instance.compensating, target=target, waiting=None))
        else:
            run.compensate(Compensating(target=target, pending=run.undoable()))
        return run.step(instance.state)

    def adopt(self, instance: SagaInstance, state: str, now: datetime) -> Step:
        """Migration: `instance`, moved in from another version, is placed in `state`
        with this definition's timers for it (its old ones cancelled); nothing is sent."""
        run = self._operating(instance.evolve(state=state), now)
        waits = self.states[state]
        entries = instance.entries
        if waits.retry is not None and instance.retries < waits.retry.attempts:
            run.arm(f"retry:{state}:{entries}:{instance.retries + 1}", waits.retry.after)
        if waits.timeout is not None:
            run.arm(f"{TIMEOUT_TIMER}{state}:{entries}", waits.timeout.after)
        return run.step(instance.state)

    def _operating(self, instance: SagaInstance, now: datetime) -> _Run:
        """A run for an operator action: `instance`'s timers cancelled first."""
        unknown = _unknown_states(instance, self.states)
        if unknown:
            raise OperationRefused(f"state {unknown!r} is not in {self.name} v{self.version}")
        run = _Run(self, instance, now)
        run.effects.extend(CancelTimer(name) for name in instance.timers)
        run.instance = instance.evolve(timers=())
        return run

    @staticmethod
    def _refuse_unless_running(instance: SagaInstance, action: str) -> None:
        if instance.status != "running":
            raise OperationRefused(f"the instance is {instance.status}: nothing to {action}")

    def _awaited(self, instance: SagaInstance, given: Input) -> bool:
        """Whether `given` is the confirmation a parked compensation waited for."""
        run = instance.compensating
        if run is None or run.waiting is None or not isinstance(given, EventInput):
            return False
        state = self.states.get(run.waiting)
        compensation = state.compensation if state is not None else None
        return compensation is not None and compensation.until == given.type

    def routes(self, state: str) -> Mapping[str, tuple[TransitionDefinition, ...]]:
        """Event type -> transitions tried in `state`, in order (`any:` ones last)."""
        return self._routes.get(state, {})


class _Run:
    """One step in progress: the instance as it changes, and the effects so far."""

    def __init__(self, machine: Machine, instance: SagaInstance, now: datetime) -> None:
        self.machine = machine
        self.instance = instance
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.effects: list[Effect] = []
        self._scope: Scope | None = None

    def dispatch(self, given: Input) -> bool:
        if self.instance.compensating is not None:
            return self.while_compensating(self.instance.compensating, given)
        if isinstance(given, TimerFired):
            return self.timer(given.name)
        for transition in self.machine.routes(self.instance.state).get(given.type, ()):
            if self.holds(transition, given.payload):
                self.take(transition, given.payload)
                return True
        return False

    def holds(self, transition: TransitionDefinition, payload: Mapping[str, Any]) -> bool:
        if transition.guard is None:
            return True
        result = transition.guard.evaluate(self.scope(payload))
        if not isinstance(result, bool):
            raise EvaluationError(
                f"guard {transition.guard.source.strip()!r} gave {result!r}, not true or false"
            )
        return result

    def timer(self, name: str) -> bool:
        if name not in self.instance.timers:
            return False
        self.instance = self.instance.evolve(timers=_without(self.instance.timers, name))
        state = self.machine.states[self.instance.state]
        if name.startswith("retry:") and state.retry is not None:
            retries = self.instance.retries + 1
            self.instance = self.instance.evolve(retries=retries)
            self.emit(a for a in state.entry if a.kind == "command")
            if retries < state.retry.attempts:
                self.arm(
                    f"retry:{state.name}:{self.instance.entries}:{retries + 1}", state.retry.after
                )
            return True
        if name.startswith(TIMEOUT_TIMER) and state.timeout is not None:
            self.take(state.timeout.transition, NO_EVENT)
            return True
        return False

    def take(self, transition: TransitionDefinition, payload: Mapping[str, Any]) -> None:
        data = self.assign(transition.assignments, payload)
        for name in self.instance.timers:
            self.effects.append(CancelTimer(name))
        self.instance = self.instance.evolve(data=data, timers=())
        if not transition.compensate:
            self.instance = self.instance.evolve(
                completed=(*self.instance.completed, self.instance.state)
            )
            self.enter(transition.goto)
            return
        self.compensate(Compensating(target=transition.goto, pending=self.undoable()))

    def undoable(self) -> tuple[str, ...]:
        """The completed states still to undo, latest first."""
        return tuple(
            name
            for name in _latest_first(self.instance.completed)
            if name not in self.instance.compensated
            and self.machine.states[name].compensation is not None
        )

    def step(self, from_state: str) -> Step:
        return Step(self.instance, self.effects, True, from_state, self.instance.state)

    def compensate(self, run: Compensating) -> None:
        """Undoes `run.pending` in order until one has to wait for its `until`."""
        while run.pending:
            name = run.pending[0]
            compensation = self.compensation_of(name)
            self.emit(compensation.actions, compensates=name)
            if compensation.until is not None:
                self.instance = self.instance.evolve(
                    compensating=Compensating(run.target, run.pending, waiting=name, attempt=0)
                )
                self.arm(f"compensate:{name}:0", compensation.retry.after)
                return
            self.instance = self.instance.evolve(compensated=(*self.instance.compensated, name))
            run = Compensating(run.target, run.pending[1:])
        self.instance = self.instance.evolve(compensating=None)
        self.enter(run.target)

    def while_compensating(self, run: Compensating, given: Input) -> bool:
        name = run.waiting
        if name is None:
            raise _Stuck("the compensation run waits for nothing (damaged bookkeeping)")
        compensation = self.compensation_of(name)
        if isinstance(given, EventInput):
            if given.type != compensation.until:
                return False
            for timer in self.instance.timers:
                self.effects.append(CancelTimer(timer))
            self.instance = self.instance.evolve(
                timers=(), compensated=(*self.instance.compensated, name)
            )
            self.compensate(Compensating(run.target, run.pending[1:]))
            return True
        if given.name not in self.instance.timers:
            return False
        self.instance = self.instance.evolve(timers=_without(self.instance.timers, given.name))
        if run.attempt >= compensation.retry.attempts:
            raise _Stuck(
                f"compensation of {name!r} sent {run.attempt + 1} time(s) and "
                f"{compensation.until} never came"
            )
        attempt = run.attempt + 1
        self.emit(compensation.actions, compensates=name)
        self.instance = self.instance.evolve(
            compensating=Compensating(run.target, run.pending, name, attempt)
        )
        self.arm(f"compensate:{name}:{attempt}", compensation.retry.after)
        return True

    def compensation_of(self, name: str) -> CompensationDefinition:
        compensation = self.machine.states[name].compensation
        if compensation is None:
            raise _Stuck(f"state {name!r} has no compensation in this version of the saga")
        return compensation

    def enter(self, name: str) -> None:
        state = self.machine.states[name]
        entries = self.instance.entries + 1
        self.instance = self.instance.evolve(state=name, entries=entries, retries=0, timers=())
        self.emit(state.entry)
        if state.end is not None:
            status = "completed" if state.end == "success" else "failed"
            self.instance = self.instance.evolve(status=status)
            self.effects.append(Finished(state.end))
            return
        if state.retry is not None:
            self.arm(f"retry:{name}:{entries}:1", state.retry.after)
        if state.timeout is not None:
            self.arm(f"{TIMEOUT_TIMER}{name}:{entries}", state.timeout.after)

    def arm(self, name: str, after: timedelta) -> None:
        self.instance = self.instance.evolve(timers=(*self.instance.timers, name))
        self.effects.append(ArmTimer(name, after))

    def emit(self, actions: Iterable[Action], compensates: str | None = None) -> None:
        scope = self.scope(NO_EVENT)
        for action in actions:
            payload = action.payload.render(scope)
            if action.kind == "command":
                self.effects.append(SendCommand(action.type, payload, compensates))
            else:
                self.effects.append(PublishEvent(action.type, payload, compensates))

    def assign(
        self, assignments: tuple[Assignment, ...], payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The saga data after `set:`; every value sees the data as it was before."""
        data = self.instance.data
        if not assignments:
            return data
        scope = self.scope(payload)
        return {**data, **{a.name: a.value.render(scope) for a in assignments}}

    def scope(self, payload: Mapping[str, Any]) -> Scope:
        """What expressions see now; converted for CEL once per payload and data."""
        scope = self._scope
        if scope is None or scope.event is not payload or scope.saga is not self.instance.data:
            scope = self._scope = Scope(payload, self.instance.data, self.now)
        return scope


def _ignored(instance: SagaInstance) -> Step:
    return Step(instance, [], False, instance.state, instance.state)


def _unknown_states(instance: SagaInstance, states: Mapping[str, StateDefinition]) -> str | None:
    """A state the instance refers to that this machine lacks (a foreign instance)."""
    named = [instance.state, *instance.completed, *instance.compensated]
    if instance.compensating is not None:
        run = instance.compensating
        named += [run.target, *run.pending, *([run.waiting] if run.waiting else [])]
    return next((name for name in named if name not in states), None)


def _without(names: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(n for n in names if n != name)


def _latest_first(completed: tuple[str, ...]) -> list[str]:
    """Completed states, most recently completed first, each once."""
    return list(dict.fromkeys(reversed(completed)))
