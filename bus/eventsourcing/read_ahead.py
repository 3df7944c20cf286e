"""A batch's event streams, read in one statement before its deliveries are handled.

A service whose handler loads an aggregate by an id its message carries says so where
it registers the handler:

    @orders.handles(CompleteOrder, loads=Loads(OrderAggregate, "order_id"))

Before the pipeline hands the service a batch, the service (`Service.prepare`) reads
every stream its deliveries will load with `tx.events_read_many`, one statement, and
keeps what it read with the transaction (`read_ahead`). An `EventStore` reading one of
those streams in that transaction (`Repository.load`) takes its events from there
(`already_read`) instead of reading them again, until it appends to that stream
(`forget`): a later delivery of the batch then reads the stream again and sees what the
earlier one wrote. Another transaction (a delivery retried on its own) never sees it.

The append's version check is the same as ever: should another writer append to a
stream between the read-ahead and a delivery's append, the append is refused
(`StreamConflict`) and the delivery is retried, as when it loses that race after a
single read. An aggregate that takes snapshots (`snapshot_every`) is not read ahead:
its loading starts from its newest snapshot, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import orjson

from bus.eventsourcing.aggregate import Aggregate
from bus.store.base import StoredEvent, Transaction
from bus.wire.envelope import Envelope

_read: WeakKeyDictionary[Transaction, dict[str, list[StoredEvent]]] = WeakKeyDictionary()
"""Per transaction, the streams read ahead that no append of it changed since."""


@dataclass(frozen=True, slots=True)
class Loads:
    """Declares that a handler loads `aggregate` by the id in its message's payload
    field `field` (`Service.handles(..., loads=...)`, `Service.on(..., loads=...)`)."""

    aggregate: type[Aggregate[Any]]
    field: str

    def stream(self, message: Envelope) -> str | None:
        """The stream the handler will load for `message`, when it can be read ahead:
        None for an aggregate that takes snapshots or a message without the id."""
        if self.aggregate.snapshot_every:
            return None
        value = message.payload.get(self.field)
        return self.aggregate.stream_id(value) if isinstance(value, str) and value else None


async def read_ahead(tx: Transaction, stream_ids: Iterable[str]) -> None:
    """Reads `stream_ids` in one statement and keeps them with `tx` (see the module
    docstring); a stored payload that is not JSON leaves every load to read alone (and
    report it as an `UnreadableEvent`)."""
    wanted = sorted(set(stream_ids))
    if not wanted:
        return
    try:
        _read[tx] = await tx.events_read_many(wanted)
    except orjson.JSONDecodeError:
        _read.pop(tx, None)


def already_read(
    tx: Transaction, stream_id: str, from_version: int, to_version: int | None
) -> list[StoredEvent] | None:
    """What `tx.events_read(stream_id, ...)` would return now, when `tx` read the
    stream ahead and has not appended to it since; else None."""
    events = _read.get(tx, {}).get(stream_id)
    if events is None:
        return None
    return [
        e for e in events
        if e.version >= from_version and (to_version is None or e.version <= to_version)
    ]


def forget(tx: Transaction, stream_id: str) -> None:
    """Before `tx` appends to `stream_id`: later reads of it read it again."""
    streams = _read.get(tx)
    if streams is not None:
        streams.pop(stream_id, None)
