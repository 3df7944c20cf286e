"""Carrying out one step of the machine inside a store transaction.

A step's effects become rows in the same transaction that saves the instance: commands
and events become envelopes for the outbox (correlation_id = the instance id,
causation_id = the message that caused the step), timers are armed and cancelled in
the store, and a history row records what came in, where the instance moved and what
it caused. Nothing here talks to the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bus.errors import SagabusError
from bus.observability import observe
from bus.observability.logging import get_logger
from bus.store.base import HistoryRecord, SagaRecord, StepWrites, TimerRecord, Transaction
from bus.wire.contracts import MessageKind, Registry
from bus.wire.envelope import Envelope
from saga_dsl import (
    ArmTimer,
    CancelTimer,
    EventInput,
    Finished,
    Input,
    Machine,
    Parked,
    PublishEvent,
    SagaInstance,
    SendCommand,
    Step,
)

log = get_logger("sagabus.saga")

ENGINE_KEYS = frozenset({"started_by"})
"""Keys the engine keeps beside the machine's bookkeeping: `started_by` is the id of
the message that caused the start event (what `sagabus send --follow` looks for)."""


@dataclass(frozen=True, slots=True)
class Cause:
    """What made the step happen: a message (with its ids), a timer, or an operator
    (no input; `label` says which action and why)."""

    input: Input | None
    message_id: str | None = None
    traceparent: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            given = self.input
            if isinstance(given, EventInput):
                object.__setattr__(self, "label", given.type)
            elif given is not None:
                object.__setattr__(self, "label", f"timer {given.name}")


def instance_of(record: SagaRecord) -> SagaInstance:
    return SagaInstance.from_json(
        {
            "state": record.state,
            "status": record.status,
            "data": record.data,
            "machine": record.machine,
        }
    )


def write_instance(record: SagaRecord, instance: SagaInstance) -> SagaRecord:
    """`record` carrying `instance` (ids, versions and timestamps kept)."""
    raw = instance.to_json()
    record.state = instance.state
    record.status = instance.status
    record.data = raw["data"]
    kept = {k: v for k, v in record.machine.items() if k in ENGINE_KEYS}
    record.machine = {**raw["machine"], **kept}
    record.reason = instance.park_reason
    return record


def outgoing(step: Step, record: SagaRecord, cause: Cause, contracts: Registry) -> list[Envelope]:
    """The envelopes of a step's sends and publishes, checked against their contracts.

    Raises `SagabusError` when a payload the saga built does not satisfy its contract;
    the caller parks the instance with that reason instead of sending garbage.
    """
    envelopes = []
    for effect in step.effects:
        if not isinstance(effect, SendCommand | PublishEvent):
            continue
        kind: MessageKind = "command" if isinstance(effect, SendCommand) else "event"
        version = 1
        if effect.type in contracts:
            contracts.parse(effect.type, contracts.get(effect.type).__version__, effect.payload)
            version = contracts.get(effect.type).__version__
        envelopes.append(
            Envelope(
                type=effect.type,
                kind=kind,
                payload=effect.payload,
                correlation_id=record.id,
                causation_id=cause.message_id,
                traceparent=cause.traceparent,
                version=version,
                headers={"saga": record.saga, "saga_state": step.to_state},
            )
        )
    return envelopes


def timer_changes(
    record: SagaRecord, step: Step, cause: Cause, now: datetime
) -> tuple[list[str], list[TimerRecord]]:
    """The timers a step cancels and arms, each name's last effect winning (a timer
    cancelled and armed again is only armed: the arm replaces it)."""
    last: dict[str, ArmTimer | CancelTimer] = {}
    for effect in step.effects:
        if isinstance(effect, ArmTimer | CancelTimer):
            last.pop(effect.name, None)
            last[effect.name] = effect
    cancel = [name for name, effect in last.items() if isinstance(effect, CancelTimer)]
    arm = [
        TimerRecord(
            instance_id=record.id,
            saga=record.saga,
            name=effect.name,
            due_at=now + effect.after,
            # the step the timer causes continues this one's trace
            payload={"traceparent": cause.traceparent} if cause.traceparent else {},
        )
        for effect in last.values()
        if isinstance(effect, ArmTimer)
    ]
    return cancel, arm


async def record_step(
    tx: Transaction,
    record: SagaRecord,
    step: Step,
    cause: Cause,
    now: datetime,
    contracts: Registry,
    *,
    created: bool = False,
) -> list[Envelope]:
    """Saves the instance, its history row and timers; returns the envelopes to send.

    The instance is saved with its optimistic version check (`ConcurrencyError` when
    another unit of work wrote it first: the caller's unit is retried, nothing lost).
    """
    try:
        envelopes = outgoing(step, record, cause, contracts)
    except SagabusError as exc:
        # like the machine's own parking: the instance stays where the input found it
        # (a new instance: in its first state, no timer armed), its timers cancelled
        before = step.instance.evolve(timers=()) if created else instance_of(record)
        reason = f"cannot send from state {step.to_state!r}: {exc}"
        step = Machine.park(before, reason, from_state=step.from_state)
        envelopes = []
    write_instance(record, step.instance)
    cancel, arm = timer_changes(record, step, cause, now)
    writes = StepWrites(_history_row(record, step, cause, now), tuple(cancel), tuple(arm))
    # the instance, its timers and its history row: one store call (one statement on
    # PostgreSQL)
    if created:
        await tx.saga_start(record, writes)
    else:
        await tx.saga_step(record, writes)
    _log_step(record, step, cause)
    report_step(record, step, now, created=created)
    return envelopes


def _log_step(record: SagaRecord, step: Step, cause: Cause) -> None:
    """A line for a finished or parked instance, and a debug line for every step."""
    instance = {"saga": record.saga, "instance_id": record.id}
    for effect in step.effects:
        if isinstance(effect, Finished):
            log.info("saga finished", **instance, outcome=effect.outcome, state=step.to_state)
        elif isinstance(effect, Parked):
            log.warning("saga parked", **instance, state=step.to_state, reason=effect.reason)
    log.debug(
        "saga step",
        **instance,
        input=cause.label,
        message_id=cause.message_id,
        from_state=step.from_state,
        to_state=step.to_state,
    )


def _history_row(record: SagaRecord, step: Step, cause: Cause, now: datetime) -> HistoryRecord:
    return HistoryRecord(
        instance_id=record.id,
        at=now,
        input=cause.label,
        message_id=cause.message_id,
        from_state=step.from_state,
        to_state=step.to_state,
        effects=[effect.to_json() for effect in step.effects],
    )


async def advance(
    tx: Transaction,
    machine: Machine,
    record: SagaRecord,
    cause: Cause,
    now: datetime,
    contracts: Registry,
) -> list[Envelope] | None:
    """One step of an existing instance: the unit of work that message deliveries (the
    saga endpoint) and fired timers (the scheduler) share. The machine takes the input;
    an accepted step is saved with its history and timers, and its envelopes, stamped
    here once, are returned for the outbox; None when the input was not accepted."""
    if cause.input is None:
        raise ValueError("a step needs an input: an event or a timer")
    step = machine.handle(instance_of(record), cause.input, now)
    if not step.accepted:
        return None
    return await record_step(tx, record, step, cause, now, contracts)


def report_step(record: SagaRecord, step: Step, now: datetime, *, created: bool) -> None:
    """Tells the observer what the step meant (bus/observability/observe.py: once its transaction
    commits): a start, compensations sent, a finish with its outcome, a parking."""
    saga = record.saga
    if created:
        observe.report(lambda o: o.saga_started(saga))
    undone = list(dict.fromkeys(
        e.compensates
        for e in step.effects
        if isinstance(e, SendCommand | PublishEvent) and e.compensates is not None
    ))
    if undone:

        def compensated(o: observe.Observer) -> None:
            for state in undone:
                o.saga_compensated(saga, state)

        observe.report(compensated)
    finished = next((e for e in step.effects if isinstance(e, Finished)), None)
    if finished is not None:
        outcome = finished.outcome
        seconds = (now - (record.created_at or now)).total_seconds()
        observe.report(lambda o: o.saga_finished(saga, outcome, seconds))
    if any(isinstance(e, Parked) for e in step.effects):
        parked_in = step.to_state
        observe.report(lambda o: o.saga_parked(saga, parked_in))
