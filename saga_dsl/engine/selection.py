"""Operator actions on every instance a filter selects: the console's actions on a
filtered list (and the building block of a CLI `--where`).

The selection is a `SagaFilter` (saga, version, state, status, correlation) with at
least one field set. Its instances are read by keyset pages (`bus.store.browse`), then
each one gets `Operations.apply` in a transaction of its own, exactly as an action on
one instance would: one refusal stops nothing, and daemons may run meanwhile (each
instance is locked while it is moved). The outcome counts the instances moved, those
with nothing to do, and those refused, grouped by why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from bus.errors import SagabusError
from bus.store.base import Store, is_conflict
from bus.store.browse import MAX_PAGE, SagaFilter, matching_count, saga_page
from saga_dsl.engine.operations import Action, ActionRefused, Operations

MAX_SELECTION = 5_000
"""The most instances one selection acts on; a larger one is refused whole."""


class SelectionRefused(SagabusError):
    """A selection that matches everything, or more instances than allowed."""


@dataclass
class SelectionOutcome:
    """What an action on a selection did, instance by instance."""

    action: Action
    done: list[str] = field(default_factory=list)
    """Instances the action moved."""
    unchanged: list[str] = field(default_factory=list)
    """Instances with nothing to do (already finished, not parked, ...)."""
    refused: dict[str, list[str]] = field(default_factory=dict)
    """Instances the action does not apply to, by why."""

    @property
    def total(self) -> int:
        return len(self.done) + len(self.unchanged) + sum(map(len, self.refused.values()))

    def lines(self) -> list[str]:
        lines = [
            f"{self.action}: {len(self.done)} done, {len(self.unchanged)} with nothing to do, "
            f"{self.total - len(self.done) - len(self.unchanged)} refused, of {self.total}."
        ]
        for why, ids in sorted(self.refused.items(), key=lambda item: -len(item[1])):
            lines.append(f"refused {len(ids)}: {why} (e.g. {ids[0]})")
        return lines


def described(where: SagaFilter) -> str:
    """`saga=order status=parked`: the fields of a filter that are set."""
    return " ".join(
        f"{f.name}={getattr(where, f.name)}"
        for f in fields(where)
        if getattr(where, f.name) is not None
    )


def _checked(where: SagaFilter) -> None:
    if not described(where):
        raise SelectionRefused(
            "a selection names at least one of saga, version, state, status or correlation"
        )


async def selection_size(store: Store, where: SagaFilter) -> int:
    """How many instances `where` selects now."""
    _checked(where)
    async with store.transaction() as tx:
        return await matching_count(tx, where)


async def selected_ids(store: Store, where: SagaFilter, limit: int = MAX_SELECTION) -> list[str]:
    """The ids of the instances `where` selects, newest first; `SelectionRefused`
    when there are more than `limit`."""
    _checked(where)
    ids: list[str] = []
    cursor: str | None = None
    while True:
        async with store.transaction() as tx:
            page = await saga_page(tx, where, after=cursor, limit=MAX_PAGE)
        ids.extend(summary.id for summary in page.instances)
        if len(ids) > limit:
            raise SelectionRefused(
                f"the selection has more than {limit} instances: narrow the filter"
            )
        cursor = page.next_cursor
        if cursor is None:
            return ids


async def apply_to_selection(
    operations: Operations,
    where: SagaFilter,
    action: Action,
    reason: str,
    *,
    state: str | None = None,
    limit: int = MAX_SELECTION,
) -> SelectionOutcome:
    """Applies `action` (with `reason`, and `state` for goto) to each instance `where`
    selects, one transaction each."""
    outcome = SelectionOutcome(action)
    for instance_id in await selected_ids(operations.store, where, limit):
        try:
            done = await operations.apply(instance_id, action, reason, state=state)
        except ActionRefused as exc:
            outcome.refused.setdefault(exc.why, []).append(instance_id)
            continue
        except Exception as exc:
            if not is_conflict(exc):
                raise
            why = "changed by another transaction meanwhile: try again"
            outcome.refused.setdefault(why, []).append(instance_id)
            continue
        (outcome.done if done.changed else outcome.unchanged).append(instance_id)
    return outcome
