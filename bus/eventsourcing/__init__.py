"""Event sourcing on the store: event streams, aggregates, repositories, projections.

DESIGN section 8. Events live in the store's event tables, are appended with an
optimistic version check and published through the outbox in the same transaction;
aggregates rebuild their state from them; projections follow the global log.
"""

from bus.eventsourcing.aggregate import (
    Aggregate,
    InvariantViolation,
    UnappliableEvent,
    aggregate_for_stream,
    applies,
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
from bus.eventsourcing.repository import Repository

__all__ = [
    "Aggregate",
    "AsOf",
    "EventStore",
    "InvariantViolation",
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
    "on",
    "projection_task",
    "registered_aggregates",
    "registered_projections",
]
