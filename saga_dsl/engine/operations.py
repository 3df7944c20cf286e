"""Operator actions on saga instances: resume, retry, goto, cancel.

Each runs in one store transaction that locks the instance (as a saga endpoint and the
timer scheduler do, so it is safe with any number of daemons running): the instance is
read, the machine's action applied (`Machine.resume`, `retry`, `goto`, `cancel`), and
the step saved like any other: history row (its input reads `operator <action>:
<reason>`), timers armed and cancelled, messages written to the outbox, where a
daemon's relay sends them. An action that has nothing to do (resuming a running
instance, cancelling a finished one, moving an instance to the state it is in) changes
nothing and says so, so repeating one is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bus.errors import SagabusError
from bus.store.base import SagaRecord, Store, Transaction
from bus.wire.contracts import Registry, registry
from bus.wire.envelope import utcnow
from saga_dsl import Machine, Step
from saga_dsl.engine.recording import Cause, instance_of, record_step
from saga_dsl.expressions import EvaluationError, OverBudget
from saga_dsl.machine import OperationRefused

Action = Literal["resume", "retry", "goto", "cancel"]
ACTIONS: tuple[Action, ...] = ("resume", "retry", "goto", "cancel")


class ActionRefused(SagabusError):
    """The action does not apply to the instance, or no instance has the id. `why`
    is the reason without the instance's id (the same for every instance it stops)."""

    def __init__(self, message: str, why: str | None = None) -> None:
        super().__init__(message)
        self.why = why or message


@dataclass(frozen=True)
class Outcome:
    """What an action did: `changed` False when there was nothing to do."""

    instance_id: str
    changed: bool
    state: str
    status: str
    note: str


class Operations:
    """Operator actions on the instances of the sagas `machines` define (the daemon's
    saga files: an instance is moved by the definition version it runs on)."""

    def __init__(
        self, store: Store, machines: Iterable[Machine], *, contracts: Registry = registry
    ) -> None:
        self.store = store
        self.machines = {(m.name, m.version): m for m in machines}
        self.contracts = contracts

    async def apply(
        self,
        key: str,
        action: Action,
        reason: str,
        *,
        state: str | None = None,
        now: datetime | None = None,
    ) -> Outcome:
        """Applies `action` to the instance with id (or correlation value) `key`, with
        `reason` written to its history; `state` is the target of `goto`. Raises
        `ActionRefused` when the action does not apply."""
        now = now or utcnow()
        async with self.store.transaction() as tx:
            record = await _find(tx, key)
            machine = self.machines.get((record.saga, record.definition_version))
            if machine is None:
                version = f"{record.saga} v{record.definition_version}"
                loaded = f"{version} is not among the loaded saga files"
                raise ActionRefused(f"instance {record.id} runs on {loaded}", why=loaded)
            step = _step(machine, record, action, state, now)
            if not step.accepted:
                return Outcome(record.id, False, record.state, record.status,
                               f"nothing to {action}: the instance is {record.status} in "
                               f"{record.state}")
            cause = Cause(None, label=f"operator {action}: {reason}")
            envelopes = await record_step(tx, record, step, cause, now, self.contracts)
            if envelopes:
                await tx.outbox_add(envelopes)
        return Outcome(record.id, True, record.state, record.status,
                       f"{action}: now {record.status} in {record.state}")


def _step(machine: Machine, record: SagaRecord, action: Action, state: str | None,
          now: datetime) -> Step:
    instance = instance_of(record)
    try:
        if action == "resume":
            return machine.resume(instance, now)
        if action == "retry":
            return machine.retry(instance, now)
        if action == "cancel":
            return machine.cancel(instance, now)
        if state is None:
            raise OperationRefused("goto needs the state to move to")
        return machine.goto(instance, state, now)
    except (OperationRefused, EvaluationError, OverBudget) as exc:
        raise ActionRefused(
            f"{action} refused for instance {record.id}: {exc}", why=str(exc)
        ) from None


async def _find(tx: Transaction, key: str) -> SagaRecord:
    record = await tx.saga_get(key, for_update=True)
    if record is None:  # a correlation value: the first saga's instance with it
        first = next(iter(await tx.saga_with_correlation(key)), None)
        if first is not None:
            record = await tx.saga_find(first.saga, key, for_update=True)
    if record is None:
        raise ActionRefused(f"no saga instance has id or correlation {key!r}")
    return record
