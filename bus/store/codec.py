"""How rows of the store map to the records of `bus.store.base`, for every backend,
and what a backend says when it refuses a write.

Both backends keep the same tables with the same column names, select columns in the
orders below and store JSON as text written by orjson, so one codec serves both; they
differ only in how a timestamp is written (SQLite: fixed-width ISO 8601 text in UTC,
which sorts like time; PostgreSQL: `timestamptz`), and a `RowCodec` is built from that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from bus.store.records import (
    HistoryRecord,
    NewEvent,
    ProjectionRecord,
    SagaRecord,
    StoredEvent,
    TimerRecord,
)
from bus.wire.envelope import Envelope


class Row(Protocol):
    """A result row as both drivers return it: readable by column position."""

    def __getitem__(self, index: int, /) -> Any: ...


ENVELOPE_COLUMNS = (
    "message_id, kind, type, payload, correlation_id, causation_id, timestamp, version, "
    "traceparent, headers"
)
SAGA_COLUMNS = (
    "id, saga, definition_version, correlation, state, status, data, machine, reason, "
    "row_version, created_at, updated_at"
)
HISTORY_COLUMNS = "instance_id, seq, at, input, message_id, from_state, to_state, effects"
TIMER_COLUMNS = "id, instance_id, saga, name, due_at, payload"
EVENT_COLUMNS = "position, stream_id, version, type, schema_version, payload, metadata, recorded_at"
PROJECTION_COLUMNS = "name, position, status, reason, failures"


def dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def load_json(text: str | bytes) -> Any:
    return orjson.loads(text)


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is refused rather than guessed at."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: the store takes aware datetimes")
    return moment.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def time_text(moment: datetime) -> str:
    """Fixed-width ISO 8601 in UTC: text order is time order."""
    return utc(moment).isoformat(timespec="microseconds")


def parse_time_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class RowCodec:
    """Builds statement parameters from records and records from rows, given how the
    backend writes (`time_out`) and reads (`time_in`) a timestamp."""

    time_out: Callable[[datetime], Any]
    time_in: Callable[[Any], datetime]

    def envelope_params(self, envelope: Envelope) -> tuple[Any, ...]:
        """Parameters in `ENVELOPE_COLUMNS` order."""
        return (
            envelope.message_id,
            envelope.kind,
            envelope.type,
            dump_json(envelope.payload),
            envelope.correlation_id,
            envelope.causation_id,
            self.time_out(envelope.timestamp),
            envelope.version,
            envelope.traceparent,
            dump_json(envelope.headers),
        )

    def envelope(self, row: Row, offset: int = 0) -> Envelope:
        """The envelope in `ENVELOPE_COLUMNS` order, starting at column `offset`."""
        return Envelope(
            message_id=row[offset],
            kind=row[offset + 1],
            type=row[offset + 2],
            payload=load_json(row[offset + 3]),
            correlation_id=row[offset + 4],
            causation_id=row[offset + 5],
            timestamp=self.time_in(row[offset + 6]),
            version=row[offset + 7],
            traceparent=row[offset + 8],
            headers=load_json(row[offset + 9]),
        )

    def saga_params(self, record: SagaRecord, now: datetime) -> tuple[Any, ...]:
        """Parameters in `SAGA_COLUMNS` order; unset times become `now`."""
        created_at = record.created_at or now
        return (
            record.id,
            record.saga,
            record.definition_version,
            record.correlation,
            record.state,
            record.status,
            dump_json(record.data),
            dump_json(record.machine),
            record.reason,
            record.row_version,
            self.time_out(created_at),
            self.time_out(record.updated_at or created_at),
        )

    def saga_update_params(self, record: SagaRecord, now: datetime) -> tuple[Any, ...]:
        """Parameters of an instance's update with its version check: the changing
        columns, `updated_at` (`now`), then `id` and the `row_version` it must still have."""
        return (
            record.definition_version,
            record.state,
            record.status,
            dump_json(record.data),
            dump_json(record.machine),
            record.reason,
            self.time_out(now),
            record.id,
            record.row_version,
        )

    def saga(self, row: Row) -> SagaRecord:
        return SagaRecord(
            id=row[0],
            saga=row[1],
            definition_version=row[2],
            correlation=row[3],
            state=row[4],
            status=row[5],
            data=load_json(row[6]),
            machine=load_json(row[7]),
            reason=row[8],
            row_version=row[9],
            created_at=self.time_in(row[10]),
            updated_at=self.time_in(row[11]),
        )

    def history(self, row: Row) -> HistoryRecord:
        return HistoryRecord(
            instance_id=row[0],
            seq=row[1],
            at=self.time_in(row[2]),
            input=row[3],
            message_id=row[4],
            from_state=row[5],
            to_state=row[6],
            effects=load_json(row[7]),
        )

    def timer(self, row: Row) -> TimerRecord:
        return TimerRecord(
            id=row[0],
            instance_id=row[1],
            saga=row[2],
            name=row[3],
            due_at=self.time_in(row[4]),
            payload=load_json(row[5]),
        )

    def event(self, row: Row) -> StoredEvent:
        return StoredEvent(
            position=row[0],
            stream_id=row[1],
            version=row[2],
            type=row[3],
            schema_version=row[4],
            payload=load_json(row[5]),
            metadata=load_json(row[6]),
            recorded_at=self.time_in(row[7]),
        )

    @staticmethod
    def projection(row: Row) -> ProjectionRecord:
        return ProjectionRecord(
            name=row[0], position=row[1], status=row[2], reason=row[3], failures=row[4]
        )


def duplicate_message(record: SagaRecord, existing_id: str | None) -> str:
    if existing_id is None:
        return f"saga instance id {record.id!r} exists already"
    return (
        f"saga {record.saga!r} already has instance {existing_id!r} "
        f"for correlation {record.correlation!r}"
    )


def stale_message(record: SagaRecord, actual: int | None) -> str:
    if actual is None:
        return f"saga instance {record.id!r} does not exist"
    return (
        f"saga instance {record.id!r} is at row_version {actual}, not {record.row_version}: "
        "someone else saved it first"
    )


def moved_on_message(stream_id: str, expected: int, actual: int) -> str:
    return f"stream {stream_id!r} is at version {actual}, not the expected {expected}"


def appended_events(
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    recorded_at: datetime,
    positions: Sequence[int],
) -> list[StoredEvent]:
    """The stored form of `events` just appended after `expected_version`, given the
    global positions the backend handed out (in order)."""
    return [
        StoredEvent(
            stream_id=stream_id,
            version=expected_version + number,
            type=event.type,
            schema_version=event.schema_version,
            payload=event.payload,
            metadata=event.metadata,
            recorded_at=recorded_at,
            position=position,
        )
        for number, (event, position) in enumerate(zip(events, positions, strict=True), 1)
    ]


def saga_filters(saga: str | None, state: str | None, status: str | None) -> list[tuple[str, str]]:
    """The (column, value) pairs a saga listing filters on, the unset ones left out."""
    pairs = (("saga", saga), ("state", state), ("status", status))
    return [(column, value) for column, value in pairs if value is not None]
