"""A small domain for the tests: tallies that count up, and a projection of totals.

`TallyTotals` is deliberately not idempotent (it adds), so an event applied twice or
skipped shows in its read model.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from bus.eventsourcing import (
    Aggregate,
    EventStore,
    InvariantViolation,
    Projection,
    RecordedEvent,
    applies,
    on,
)
from bus.store.base import Store, Transaction
from bus.wire.contracts import Event

TOTALS = "test.tally_totals"


class TallyOpened(Event):
    tally_id: str
    owner: str


class TallyAdded(Event):
    tally_id: str
    by: int


class TallyState(BaseModel):
    opened: bool = False
    owner: str | None = None
    total: int = 0
    additions: int = 0


class Tally(Aggregate[TallyState]):
    category = "tally"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.replayed = 0

    def initial_state(self) -> TallyState:
        return TallyState()

    def open(self, owner: str) -> None:
        if self.state.opened:
            raise InvariantViolation(f"tally {self.id} is open already")
        self.record(TallyOpened(tally_id=self.id, owner=owner))

    def add(self, by: int) -> None:
        if not self.state.opened:
            raise InvariantViolation(f"tally {self.id} is not open")
        self.record(TallyAdded(tally_id=self.id, by=by))

    @applies(TallyOpened)
    def _opened(self, event: TallyOpened) -> None:
        self.replayed += 1
        self.state.opened = True
        self.state.owner = event.owner

    @applies(TallyAdded)
    def _added(self, event: TallyAdded) -> None:
        self.replayed += 1
        self.state.total += event.by
        self.state.additions += 1


class SnapshottedTally(Tally):
    category = "stally"
    snapshot_every = 10


class TallyTotals(Projection):
    name = "test-tally-totals"
    namespace: ClassVar[str] = TOTALS
    namespaces = (TOTALS,)

    @on(TallyOpened)
    async def opened(self, tx: Transaction, recorded: RecordedEvent[TallyOpened]) -> None:
        await tx.state_put(
            self.namespace,
            recorded.event.tally_id,
            {"owner": recorded.event.owner, "total": 0, "n": 1},
        )

    @on(TallyAdded)
    async def added(self, tx: Transaction, recorded: RecordedEvent[TallyAdded]) -> None:
        doc = await tx.state_get(self.namespace, recorded.event.tally_id)
        assert doc is not None, f"no tally {recorded.event.tally_id}"
        doc["total"] += recorded.event.by
        doc["n"] += 1
        doc["last_position"] = recorded.position
        await tx.state_put(self.namespace, recorded.event.tally_id, doc)


class ReferenceTotals(TallyTotals):
    """The same read model under another name, to compare runs in one store."""

    name = "test-tally-reference"
    namespace = "test.tally_reference"
    namespaces = ("test.tally_reference",)


async def seed_tallies(store: Store, tallies: int, events_each: int, chunk: int = 10) -> int:
    """Appends `tallies` streams of `events_each` events, interleaved in chunks;
    returns the last position."""
    last = 0
    async with store.transaction() as tx:
        events = EventStore(tx)
        for start in range(0, events_each, chunk):
            for t in range(tallies):
                tally_id = f"t{t}"
                batch: list[Event] = [
                    TallyOpened(tally_id=tally_id, owner=f"owner-{t}")
                    if n == 0
                    else TallyAdded(tally_id=tally_id, by=n * (t + 1))
                    for n in range(start, min(start + chunk, events_each))
                ]
                recorded = await events.append(f"tally-{tally_id}", batch, start)
                last = recorded[-1].position
    return last


async def read_model(tx: Transaction, namespace: str = TOTALS) -> dict[str, dict[str, object]]:
    return dict(await tx.state_list(namespace))
