"""Loads aggregates from their streams and saves what they recorded.

Loading starts from the newest usable snapshot at or below the wanted version and
replays the events after it; saving appends the pending events with the version the
aggregate was loaded at as the expected one (a `StreamConflict` when someone else
appended meanwhile), publishes them through the outbox, and takes a snapshot when the
version crosses a multiple of the aggregate's `snapshot_every`. Everything happens in
the transaction the repository was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from bus.eventsourcing.aggregate import Aggregate
from bus.eventsourcing.event_store import AsOf, EventStore, Publisher, RecordedEvent
from bus.store.base import Transaction
from bus.wire.contracts import Registry, registry
from bus.wire.envelope import Envelope

A = TypeVar("A", bound=Aggregate[Any])


class Repository(Generic[A]):
    """Aggregates of type `aggregate` in transaction `tx`.

    Parameters:
        aggregate: the aggregate class (its `category` names the streams).
        tx: the unit of work every read and write joins.
        contracts: the registry used to read events (default: the process-wide one).
        publisher: how saved events are published (see `EventStore`); in a handler
            pass `ctx.publish`.
    """

    def __init__(
        self,
        aggregate: type[A],
        tx: Transaction,
        *,
        contracts: Registry = registry,
        publisher: Publisher | None = None,
    ) -> None:
        self.aggregate = aggregate
        self.tx = tx
        self.events = EventStore(tx, contracts=contracts, publisher=publisher)

    async def load(self, id: str, *, as_of: AsOf | None = None) -> A:
        """The aggregate `id` as it is now, or as it was at `as_of` (a stream version
        or a time). A stream with no events gives a fresh aggregate at version 0."""
        stream_id = self.aggregate.stream_id(id)
        start = await self._from_snapshot(id, stream_id, as_of)
        if start is None:
            start = self.aggregate(id)
        recorded = await self.events.read(stream_id, from_version=start.version + 1, as_of=as_of)
        start.replay(r.event for r in recorded)
        return start

    async def save(
        self,
        aggregate: A,
        *,
        cause: Envelope | None = None,
        metadata: Mapping[str, Any] | None = None,
        publish: bool = True,
    ) -> list[RecordedEvent[Any]]:
        """Appends the aggregate's pending events (see `EventStore.append` for `cause`,
        `metadata` and `publish`) and marks them saved; nothing pending, nothing done."""
        if not aggregate.pending:
            return []
        before = aggregate.version
        stream_id = self.aggregate.stream_id(aggregate.id)
        recorded = await self.events.append(
            stream_id,
            aggregate.pending,
            before,
            cause=cause,
            metadata=metadata,
            publish=publish,
        )
        aggregate.saved()
        every = self.aggregate.snapshot_every
        if every and aggregate.version // every > before // every:
            await self.tx.snapshot_save(stream_id, aggregate.version, aggregate.snapshot())
        return recorded

    async def _from_snapshot(self, id: str, stream_id: str, as_of: AsOf | None) -> A | None:
        # a snapshot knows its version, not its time: time travel replays from zero
        if not self.aggregate.snapshot_every or isinstance(as_of, datetime):
            return None
        found = await self.tx.snapshot_load(stream_id, at_most=as_of)
        if found is None:
            return None
        version, data = found
        return self.aggregate.from_snapshot(id, version, data)
