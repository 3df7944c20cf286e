"""How rows of the store map to the records of `bus.store.base`, for every backend,
and what a backend says when it refuses a write.

Both backends keep the same tables with the same column names, select columns in the
orders below and store JSON as text written by orjson, so one codec serves both; they
differ only in how a timestamp is written (SQLite: fixed-width ISO 8601 text in UTC,
which sorts like time; PostgreSQL: `timestamptz`), and a `RowCodec` is built from that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from operator import attrgetter
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
    """A result row as both drivers return it: readable by column position, and
    iterable in column order."""

    def __getitem__(self, index: int, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


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


class Columns:
    """How a record is stored: its columns in the order they are selected and written
    (`sql`; each is named as the record's field), those held as JSON text (`json`) and
    those holding a timestamp (`times`)."""

    __slots__ = ("attributes", "index", "json", "names", "sql", "times")

    def __init__(self, sql: str, json: Set[str] = frozenset(), times: Set[str] = frozenset()):
        self.sql = sql
        self.names = tuple(sql.split(", "))
        if not {*json, *times} <= {*self.names}:
            raise ValueError(f"JSON or time columns {sorted({*json, *times})} not all in {sql!r}")
        self.json = tuple(json)
        self.times = tuple(times)
        self.index = {name: index for index, name in enumerate(self.names)}
        self.attributes = attrgetter(*self.names)
        """The record's values in column order, as one tuple."""


ENVELOPE = Columns(ENVELOPE_COLUMNS, json={"payload", "headers"}, times={"timestamp"})
SAGA = Columns(SAGA_COLUMNS, json={"data", "machine"}, times={"created_at", "updated_at"})
HISTORY = Columns(HISTORY_COLUMNS, json={"effects"}, times={"at"})
TIMER = Columns(TIMER_COLUMNS, json={"payload"}, times={"due_at"})
EVENT = Columns(EVENT_COLUMNS, json={"payload", "metadata"}, times={"recorded_at"})
PROJECTION = Columns(PROJECTION_COLUMNS)
ARMED_TIMER = Columns(
    "instance_id, saga, name, due_at, payload", json={"payload"}, times={"due_at"}
)
"""What arming a timer writes: the timer without its id, which the store hands out."""


def dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def load_json(text: str | bytes) -> Any:
    return orjson.loads(text)


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is refused rather than guessed at."""
    if moment.tzinfo is UTC:  # the common case: nothing to convert
        return moment
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

    def fields(self, columns: Columns, row: Row, offset: int = 0) -> dict[str, Any]:
        """The record's fields read from `row` in `columns` order, from column `offset`."""
        cells = islice(row, offset, None) if offset else row
        values = dict(zip(columns.names, cells, strict=False))
        for name in columns.json:
            values[name] = load_json(values[name])
        for name in columns.times:
            values[name] = self.time_in(values[name])
        return values

    def params(self, columns: Columns, record: Any, **given: Any) -> tuple[Any, ...]:
        """Parameters in `columns` order: the record's attributes, or the values `given`
        for some of them."""
        values = list(columns.attributes(record))
        for name, value in given.items():
            values[columns.index[name]] = value
        for name in columns.json:
            values[columns.index[name]] = dump_json(values[columns.index[name]])
        for name in columns.times:
            values[columns.index[name]] = self.time_out(values[columns.index[name]])
        return tuple(values)

    def envelope_params(self, envelope: Envelope) -> tuple[Any, ...]:
        """Parameters in `ENVELOPE_COLUMNS` order."""
        return self.params(ENVELOPE, envelope)

    def envelope(self, row: Row, offset: int = 0) -> Envelope:
        """The envelope in `ENVELOPE_COLUMNS` order, starting at column `offset`."""
        return Envelope(**self.fields(ENVELOPE, row, offset))

    def saga_params(self, record: SagaRecord, now: datetime) -> tuple[Any, ...]:
        """Parameters in `SAGA_COLUMNS` order; unset times become `now`."""
        created_at = record.created_at or now
        return self.params(
            SAGA, record, created_at=created_at, updated_at=record.updated_at or created_at
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
        return SagaRecord(**self.fields(SAGA, row))

    def history(self, row: Row) -> HistoryRecord:
        return HistoryRecord(**self.fields(HISTORY, row))

    def timer(self, row: Row) -> TimerRecord:
        return TimerRecord(**self.fields(TIMER, row))

    def event(self, row: Row) -> StoredEvent:
        return StoredEvent(**self.fields(EVENT, row))

    def projection(self, row: Row) -> ProjectionRecord:
        return ProjectionRecord(**self.fields(PROJECTION, row))


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

