"""Event sourcing on the store: event streams, aggregates, repositories, projections.

DESIGN section 8. Events live in the store's event tables, are appended with an
optimistic version check and published through the outbox in the same transaction;
aggregates rebuild their state from them; projections follow the global log.

Each name is imported from its module on first use (PEP 562, as in `bus`), so that
importing an aggregate does not load the projection runner and its logging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.lazy import lazy_names

if TYPE_CHECKING:
    from bus.eventsourcing.aggregate import (
        Aggregate,
        InvariantViolation,
        UnappliableEvent,
        aggregate_for_stream,
        applies,
        linked_streams,
        registered_aggregates,
    )
    from bus.eventsourcing.event_store import (
        AsOf,
        EventStore,
        Publisher,
        RecordedEvent,
        StreamConflict,
        UnreadableEvent,
    )
    from bus.eventsourcing.projection import (
        Projection,
        ProjectionRunner,
        on,
        projection_task,
        registered_projections,
    )
    from bus.eventsourcing.read_ahead import Loads
    from bus.eventsourcing.repository import Repository

_AGGREGATE = "bus.eventsourcing.aggregate"
_EVENT_STORE = "bus.eventsourcing.event_store"
_PROJECTION = "bus.eventsourcing.projection"
_HOMES: dict[str, str] = {
    "Aggregate": _AGGREGATE,
    "AsOf": _EVENT_STORE,
    "EventStore": _EVENT_STORE,
    "InvariantViolation": _AGGREGATE,
    "Loads": "bus.eventsourcing.read_ahead",
    "Projection": _PROJECTION,
    "ProjectionRunner": _PROJECTION,
    "Publisher": _EVENT_STORE,
    "RecordedEvent": _EVENT_STORE,
    "Repository": "bus.eventsourcing.repository",
    "StreamConflict": _EVENT_STORE,
    "UnappliableEvent": _AGGREGATE,
    "UnreadableEvent": _EVENT_STORE,
    "aggregate_for_stream": _AGGREGATE,
    "applies": _AGGREGATE,
    "linked_streams": _AGGREGATE,
    "on": _PROJECTION,
    "projection_task": _PROJECTION,
    "registered_aggregates": _AGGREGATE,
    "registered_projections": _PROJECTION,
}
"""Each public name and the module it lives in."""

__all__ = [
    "Aggregate",
    "AsOf",
    "EventStore",
    "InvariantViolation",
    "Loads",
    "Projection",
    "ProjectionRunner",
    "Publisher",
    "RecordedEvent",
    "Repository",
    "StreamConflict",
    "UnappliableEvent",
    "UnreadableEvent",
    "aggregate_for_stream",
    "applies",
    "linked_streams",
    "on",
    "projection_task",
    "registered_aggregates",
    "registered_projections",
]

if not TYPE_CHECKING:  # type checkers see the imports above, and only those names
    __getattr__, __dir__ = lazy_names(__name__, _HOMES, globals())
