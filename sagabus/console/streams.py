"""Event streams in the console: which streams an instance's correlation value names,
and one stream's events with the state its aggregate rebuilds as of a version (the
page of `sagabus stream show ID --as-of N`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bus.eventsourcing import EventStore, RecordedEvent, aggregate_for_stream
from bus.store.base import Transaction


@dataclass(frozen=True)
class StreamAsOf:
    stream_id: str
    head: int
    """The stream's newest version."""
    version: int
    """The version shown (`as_of`, or the head)."""
    events: list[RecordedEvent[Any]]
    aggregate: str | None
    state: dict[str, Any] | None
    """The aggregate's state at `version`; None when no aggregate owns the stream."""
    at: datetime | None = None
    """The time asked for, when the version is the last one recorded by then."""


def moment_of(text: str) -> datetime:
    """An ISO 8601 time (`2030-01-01T12:00:05`, a browser's datetime-local value, or
    with an offset); no offset means UTC. `ValueError` when it is not one."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def stream_as_of(
    tx: Transaction, stream_id: str, as_of: int | None, at: datetime | None = None
) -> StreamAsOf | None:
    """The stream up to version `as_of`, or up to the last event recorded at or before
    the time `at` (all of it when both are None); None when it has no events."""
    events = EventStore(tx)
    head = await events.version(stream_id)
    if head == 0:
        return None
    if at is not None:
        recorded = await events.read(stream_id, as_of=at)
        version = recorded[-1].version if recorded else 0
    else:
        version = head if as_of is None else max(0, min(as_of, head))
        recorded = await events.read(stream_id, as_of=version)
    aggregate = aggregate_for_stream(stream_id)
    if aggregate is None:
        return StreamAsOf(stream_id, head, version, recorded, None, None, at)
    rebuilt = aggregate.from_events(aggregate.id_of(stream_id), (r.event for r in recorded))
    state = rebuilt.state.model_dump(mode="json")
    return StreamAsOf(stream_id, head, version, recorded, aggregate.__name__, state, at)
