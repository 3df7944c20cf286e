"""The paths of a saga a scenario can take, and which of them a step took.

A path is one transition (each guard branch of an event on its own), a timeout, an
`any:` transition taken from one particular state, a state's retries running out, a
compensation running, or a compensation waiting for its `until` and giving up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from saga_dsl.diagnostics import Position
from saga_dsl.effects import EventInput, Input, PublishEvent, SendCommand, TimerFired
from saga_dsl.expressions import EvaluationError, Scope
from saga_dsl.instance import SagaInstance
from saga_dsl.machine import TIMEOUT_TIMER, Machine, Step
from saga_dsl.saga_definition import TransitionDefinition

PathKind = Literal["on", "any", "timeout", "retries", "compensation", "gives up"]
PathKey = tuple[PathKind, str, str, int]
"""(kind, state, event type or "", option index among the event's transitions)."""


@dataclass(frozen=True)
class SagaPath:
    """One path of the saga graph, written for people and placed in the saga file."""

    key: PathKey
    text: str
    at: Position
    target: str | None = None
    transition: TransitionDefinition | None = None

    @property
    def kind(self) -> PathKind:
        return self.key[0]

    @property
    def state(self) -> str:
        return self.key[1]


def saga_paths(machine: Machine) -> list[SagaPath]:
    """Every path of `machine`, in file order of the states."""
    return list(_paths(machine))


def _paths(machine: Machine) -> Iterator[SagaPath]:
    definition = machine.definition
    for name, state in machine.states.items():
        for event, options in state.on.items():
            for index, option in enumerate(options):
                yield _transition("on", name, event, index, option)
        if state.timeout is not None:
            transition = state.timeout.transition
            yield _transition("timeout", name, "", 0, transition)
        if state.retry is not None and any(a.kind == "command" for a in state.entry):
            attempts = state.retry.attempts
            text = f"{name}: all {attempts} resend(s) made"
            yield SagaPath(("retries", name, "", 0), text, state.keys.get("retry", state.at))
        if not state.final:
            for event, options in definition.any_on.items():
                for index, option in enumerate(options):
                    yield _transition("any", name, event, index, option)
    for name, state in machine.states.items():
        compensation = state.compensation
        if compensation is None:
            continue
        yield SagaPath(("compensation", name, "", 0), f"{name} is compensated", compensation.at)
        if compensation.until is not None:
            text = f"{name}: compensation never sees {compensation.until} and gives up (parks)"
            yield SagaPath(("gives up", name, "", 0), text, compensation.until_at)


def _transition(
    kind: PathKind, state: str, event: str, index: int, option: TransitionDefinition
) -> SagaPath:
    label = event or "timeout"
    if kind == "any":
        label = f"any: {event}"
    if option.guard is not None:
        label += f" [{option.guard.source.strip()}]"
    arrow = "-.->" if option.compensate else "-->"
    text = f"{state} {arrow} {option.goto} on {label}"
    return SagaPath((kind, state, event, index), text, option.at, option.goto, option)


def taken(
    machine: Machine, before: SagaInstance, given: Input, step: Step, now: datetime
) -> list[PathKey]:
    """The paths `step` (the machine's answer to `given` in `before`) took."""
    if before.status != "running" or not step.accepted:
        return []
    found: list[PathKey] = []
    if before.compensating is not None:
        waiting = before.compensating.waiting
        if isinstance(given, TimerFired) and step.instance.status == "parked" and waiting:
            found.append(("gives up", waiting, "", 0))
    elif isinstance(given, EventInput):
        chosen = _chosen(machine, before, given, now)
        if chosen is not None:
            found.append(chosen)
    elif given.name.startswith(TIMEOUT_TIMER):
        found.append(("timeout", before.state, "", 0))
    elif given.name.startswith("retry:"):
        retry = machine.states[before.state].retry
        if retry is not None and given.name.endswith(f":{retry.attempts}"):
            found.append(("retries", before.state, "", 0))
    for effect in step.effects:
        if isinstance(effect, SendCommand | PublishEvent) and effect.compensates:
            key: PathKey = ("compensation", effect.compensates, "", 0)
            if key not in found:
                found.append(key)
    return found


def _chosen(
    machine: Machine, before: SagaInstance, given: EventInput, now: datetime
) -> PathKey | None:
    """The transition the machine took for `given`: the first whose guard holds."""
    scope = Scope(given.payload, before.data, now)
    state = before.state
    own = machine.states[state].on.get(given.type, ())
    for index, option in enumerate(machine.routes(state).get(given.type, ())):
        try:
            holds = option.guard is None or option.guard.evaluate(scope) is True
        except EvaluationError:
            return None
        if holds:
            if index < len(own):
                return ("on", state, given.type, index)
            return ("any", state, given.type, index - len(own))
    return None
