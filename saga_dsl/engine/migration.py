"""Moving waiting instances of a saga from one version to a newer one.

`plan_migration` reads the running instances of `saga` on the old version and checks,
before anything moves, that each can go: every state it names (its state, the states it
completed or compensated) exists in the new version, once `mapping` renamed them; it is
not in the middle of a compensation; and the data its new state reads (`saga.x` in that
state's commands, guards, `set:` and timeout) is set. `migrate` then moves each instance
in a transaction of its own that locks it and checks it did not move meanwhile: its
version and state are rewritten, its timers re-armed by the new definition
(`Machine.adopt`, nothing sent), and a history row says `migrated vA -> vB`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bus.store.base import SagaRecord, Store
from bus.store.browse import SagaFilter
from bus.wire.contracts import Registry, registry
from bus.wire.envelope import utcnow
from saga_dsl import Machine
from saga_dsl.engine.recording import Cause, instance_of, record_step
from saga_dsl.expressions import Expression

SCAN = 100_000
"""Instances of one version read for a plan, at most."""


@dataclass(frozen=True)
class Move:
    instance_id: str
    correlation: str
    from_state: str
    to_state: str


@dataclass
class Plan:
    """What a migration would do: `moves`, or the `problems` that stop it."""

    saga: str
    from_version: int
    to_version: int
    moves: list[Move] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = (f"{self.saga} v{self.from_version} -> v{self.to_version}: "
                f"{len(self.moves)} instance(s) to move")
        return [head, *(f"  {m.correlation} ({m.instance_id}): {m.from_state} -> {m.to_state}"
                        for m in self.moves), *(f"  refused: {p}" for p in self.problems)]


async def plan_migration(store: Store, source: Machine, target: Machine,
                         mapping: Mapping[str, str], *, only: SagaFilter | None = None) -> Plan:
    """The plan for the running instances of `source`'s version; `only`: of those, the
    ones in its `state` and with its `correlation` (when set)."""
    plan = Plan(source.name, source.version, target.version)
    async with store.transaction() as tx:
        records = await tx.saga_list(saga=source.name, status="running", limit=SCAN)
    for record in sorted(records, key=lambda r: r.correlation):
        if record.definition_version != source.version or not _selected(record, only):
            continue
        problem = _problem(record, target, mapping)
        if problem:
            plan.problems.append(f"{record.correlation}: {problem}")
        else:
            to_state = mapping.get(record.state, record.state)
            plan.moves.append(Move(record.id, record.correlation, record.state, to_state))
    return plan


async def migrate(store: Store, plan: Plan, target: Machine, mapping: Mapping[str, str], *,
                  contracts: Registry = registry, now: datetime | None = None) -> int:
    """Carries out `plan` (which must have no problems); returns the instances moved
    (one that moved or finished since the plan was made is left alone)."""
    moved = 0
    for move in plan.moves:
        at = now or utcnow()
        async with store.transaction() as tx:
            record = await tx.saga_get(move.instance_id, for_update=True)
            if (record is None or record.status != "running" or record.state != move.from_state
                    or record.definition_version != plan.from_version):
                continue
            instance = instance_of(record)
            renamed = instance.evolve(
                completed=tuple(mapping.get(s, s) for s in instance.completed),
                compensated=tuple(mapping.get(s, s) for s in instance.compensated),
            )
            step = target.adopt(renamed, move.to_state, at)
            record.definition_version = target.version
            label = (f"migrated v{plan.from_version} -> v{plan.to_version}"
                     f" ({move.from_state} -> {move.to_state})")
            await record_step(tx, record, step, Cause(None, label=label), at, contracts)
        moved += 1
    return moved


def _selected(record: SagaRecord, only: SagaFilter | None) -> bool:
    if only is None:
        return True
    return (only.state in (None, record.state)
            and only.correlation in (None, record.correlation))


def _problem(record: SagaRecord, target: Machine, mapping: Mapping[str, str]) -> str | None:
    instance = instance_of(record)
    if instance.compensating is not None:
        return "it is compensating: let it finish, or cancel it, first"
    named = [instance.state, *instance.completed, *instance.compensated]
    missing = sorted({mapping.get(s, s) for s in named} - set(target.states))
    if missing:
        return (f"state(s) {', '.join(missing)} not in v{target.version} "
                "(map them with --map OLD=NEW)")
    state = mapping.get(instance.state, instance.state)
    unset = sorted({ref.name for e in _expressions_of(target, state) for ref in e.references
                    if ref.root == "saga" and ref.name and ref.name not in instance.data})
    if unset:
        return f"v{target.version}'s state {state!r} reads saga.{', saga.'.join(unset)}, unset"
    return None


def _expressions_of(machine: Machine, state: str) -> Iterator[Expression]:
    definition = machine.states[state]
    for action in definition.entry:
        yield from action.payload.expressions()
    transitions = [t for ts in machine.routes(state).values() for t in ts]
    if definition.timeout is not None:
        transitions.append(definition.timeout.transition)
    for transition in transitions:
        if transition.guard is not None:
            yield transition.guard
        for assignment in transition.assignments:
            yield from assignment.value.expressions()
