"""Runs a case on the saga's pure machine, on a virtual clock: no broker, no store.

Timers are kept with the moment they come due (`ArmTimer` at now + after), so
`advance: 30s` fires every timer due within the 30 seconds in order, and `timer: timeout`
moves the clock to that timer. The first step whose expectations fail ends the case.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from saga_dsl.effects import ArmTimer, CancelTimer, Effect, EventInput, Input, TimerFired
from saga_dsl.instance import SagaInstance
from saga_dsl.machine import Machine, Step
from saga_dsl.scenarios.coverage import PathKey, taken
from saga_dsl.scenarios.expectations import Mismatch, Observed, compare
from saga_dsl.scenarios.suite import Case, StepSpec

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Where every case's clock starts (`now` in expressions)."""

MAX_TIMERS_PER_ADVANCE = 10_000
"""Most timers one `advance` fires: a saga that re-arms forever stops here."""


class StepError(Exception):
    """The step cannot be run as written (no such timer armed, no event to repeat)."""


@dataclass(frozen=True)
class Failure:
    """A step that failed: its expectations that did not hold, or why it could not run."""

    step: StepSpec
    mismatches: tuple[Mismatch, ...] = ()
    error: str | None = None


@dataclass
class CaseResult:
    """What running one case gave: its failure (if any), steps run, paths taken."""

    case: Case
    failure: Failure | None = None
    steps_run: int = 0
    covered: list[PathKey] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failure is None


class _Clock:
    """The instance under test, virtual time and the due time of every armed timer."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.now = EPOCH
        self.instance: SagaInstance | None = None
        self.due: dict[str, datetime] = {}
        self.cancelled: list[str] = []
        self.last_event: EventInput | None = None
        self.covered: list[PathKey] = []

    def feed(self, given: Input) -> Step:
        before = self.instance
        if before is None:
            assert isinstance(given, EventInput)  # the loader made the first step the start
            step = self.machine.start(given, self.now)
        else:
            step = self.machine.handle(before, given, self.now)
            self.covered.extend(taken(self.machine, before, given, step, self.now))
        self.instance = step.instance
        for effect in step.effects:
            if isinstance(effect, ArmTimer):
                self.due[effect.name] = self.now + effect.after
            elif isinstance(effect, CancelTimer):
                self.due.pop(effect.name, None)
                self.cancelled.append(effect.name)
        return step

    def armed(self) -> list[str]:
        return list(self.instance.timers) if self.instance is not None else []

    def next_due(self, until: datetime) -> str | None:
        due = [
            (self.due.get(name, self.now), order, name) for order, name in enumerate(self.armed())
        ]
        ready = sorted(item for item in due if item[0] <= until)
        return ready[0][2] if ready else None


def run_case(machine: Machine, case: Case) -> CaseResult:
    """Runs `case` on `machine` from a fresh instance."""
    clock = _Clock(machine)
    result = CaseResult(case)
    for spec in case.steps:
        try:
            steps = _run_step(clock, spec)
        except StepError as exc:
            result.failure = Failure(spec, error=str(exc))
            break
        result.steps_run += 1
        assert clock.instance is not None
        effects: list[Effect] = [effect for step in steps for effect in step.effects]
        accepted = any(step.accepted for step in steps) or spec.fault == "reload"
        mismatches = compare(spec, Observed(accepted, clock.instance, effects))
        if mismatches:
            result.failure = Failure(spec, tuple(mismatches))
            break
    result.covered = clock.covered
    return result


def _run_step(clock: _Clock, spec: StepSpec) -> Sequence[Step]:
    if spec.kind == "event":
        assert spec.event is not None
        event = EventInput(spec.event, dict(spec.payload))
        clock.last_event = event
        return [clock.feed(event)]
    if spec.kind == "timer":
        assert spec.timer is not None
        return [_fire(clock, spec.timer)]
    if spec.kind == "advance":
        assert spec.advance is not None
        return _advance(clock, spec.advance)
    return _fault(clock, spec.fault or "")


def _fire(clock: _Clock, wanted: str) -> Step:
    armed = clock.armed()
    name = next((n for n in armed if n == wanted or n.startswith(f"{wanted}:")), None)
    if name is None:
        shown = ", ".join(armed) or "none"
        raise StepError(f"no armed timer matches {wanted!r} (armed: {shown})")
    clock.now = max(clock.now, clock.due.get(name, clock.now))
    return clock.feed(TimerFired(name))


def _advance(clock: _Clock, by: timedelta) -> list[Step]:
    until = clock.now + by
    steps: list[Step] = []
    for _ in range(MAX_TIMERS_PER_ADVANCE):
        name = clock.next_due(until)
        if name is None:
            clock.now = until
            return steps
        clock.now = max(clock.now, clock.due.get(name, clock.now))
        steps.append(clock.feed(TimerFired(name)))
    raise StepError(f"more than {MAX_TIMERS_PER_ADVANCE:,} timers fired in one advance")


def _fault(clock: _Clock, fault: str) -> list[Step]:
    if fault == "duplicate":
        assert clock.last_event is not None  # the loader made the first step an event
        return [clock.feed(clock.last_event)]
    if fault == "stale-timers":
        stale = [name for name in clock.cancelled if name not in clock.armed()]
        return [clock.feed(TimerFired(name)) for name in stale]
    assert clock.instance is not None
    stored = json.loads(json.dumps(clock.instance.to_json()))
    clock.instance = SagaInstance.from_json(stored)
    return []
