"""The event store: streams of events in the store, published through the outbox.

`EventStore` is a facade over one store `Transaction`. Appending checks the stream's
version (optimistic concurrency) and queues the appended events in the outbox of the
same transaction, so the store and RabbitMQ never disagree about what happened.
Reading upcasts every stored event to its contract's current version through the
registry and validates it; an event that cannot be read that way is an
`UnreadableEvent`, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from bus.errors import ConcurrencyError, SagabusError
from bus.eventsourcing.read_ahead import already_read, forget
from bus.store.base import NewEvent, StoredEvent, Transaction
from bus.wire.contracts import Event, Registry, registry
from bus.wire.envelope import Envelope, new_id

E = TypeVar("E", bound=Event, covariant=True)
Ev = TypeVar("Ev", bound=Event)

Publisher = Callable[[Envelope], object]
"""Takes the envelope of an appended event to publish (e.g. `HandlerContext.publish`)."""

AsOf = int | datetime
"""A point in a stream's life: a stream version (1 = after the first event) or a time."""


class UnreadableEvent(SagabusError):
    """A stored event that cannot be read: its type is unknown to the registry, no
    upcaster leads from its version, or its stored payload is corrupt."""


class StreamConflict(ConcurrencyError):
    """An append whose expected version is not the stream's version: someone else
    appended first. Nothing of the append was written."""

    def __init__(self, stream_id: str, expected_version: int, detail: str) -> None:
        super().__init__(f"{detail}: someone else appended first; load it again and retry")
        self.stream_id = stream_id
        self.expected_version = expected_version


@dataclass(frozen=True, slots=True)
class RecordedEvent(Generic[E]):
    """An event as read back: the contract instance (at its current version) and where
    and when it was recorded. `schema_version` is the version it was stored at."""

    stream_id: str
    version: int
    position: int
    recorded_at: datetime
    event: E
    schema_version: int
    metadata: Mapping[str, Any]

    @property
    def type(self) -> str:
        return self.event.message_type()

    @property
    def message_id(self) -> str | None:
        value = self.metadata.get("message_id")
        return value if isinstance(value, str) else None


def recorded(stored: StoredEvent, event: Ev) -> RecordedEvent[Ev]:
    """`stored` as read back, its payload being `event`."""
    return RecordedEvent(
        stream_id=stored.stream_id,
        version=stored.version,
        position=stored.position,
        recorded_at=stored.recorded_at,
        event=event,
        schema_version=stored.schema_version,
        metadata=stored.metadata,
    )


def cause_metadata(cause: Envelope | None) -> dict[str, Any]:
    """The metadata that ties new events to the message `cause` that led to them: its
    correlation and trace flow on, and it becomes their causation."""
    if cause is None:
        return {}
    meta: dict[str, Any] = {"causation_id": cause.message_id}
    if cause.correlation_id:
        meta["correlation_id"] = cause.correlation_id
    if cause.traceparent:
        meta["traceparent"] = cause.traceparent
    return meta


@dataclass(eq=False)
class EventStore:
    """Streams of events in the store, read and written inside transaction `tx`.

    Parameters:
        tx: the unit of work every read and write joins.
        contracts: the registry that names event types and upcasts old versions
            (default: the process-wide `bus.wire.contracts.registry`).
        publisher: how appended events are published. None (the default) adds their
            envelopes to `tx`'s outbox. In a handler pass `ctx.publish`: the pipeline
            then writes them to the outbox with the handler's other messages, in the
            same transaction, and relays them as soon as it commits.
    """

    tx: Transaction
    _: KW_ONLY
    contracts: Registry = registry
    publisher: Publisher | None = None

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        cause: Envelope | None = None,
        metadata: Mapping[str, Any] | None = None,
        publish: bool = True,
    ) -> list[RecordedEvent[Event]]:
        """Appends `events` after version `expected_version` (0 for a new stream).

        Raises `StreamConflict` (a `ConcurrencyError`) and writes nothing when the
        stream is at another version. With `publish` (the default) each appended event
        is also queued in the outbox as an event envelope whose message id is the one
        stored in the event's metadata; its correlation, causation and trace come from
        `metadata`, else from `cause`. Pass `publish=False` for facts that reached the
        bus already (an event another service published, recorded here as well).
        """
        if not events:
            return []
        for event in events:
            if not isinstance(event, Event):
                raise TypeError(f"{type(event).__name__} is not an Event contract")
        shared = {**cause_metadata(cause), **(metadata or {})}
        new = [
            NewEvent(
                type=event.message_type(),
                payload=event.model_dump(mode="json"),
                schema_version=event.__version__,
                metadata={**shared, "message_id": new_id()},
            )
            for event in events
        ]
        forget(self.tx, stream_id)
        try:
            stored = await self.tx.events_append(stream_id, new, expected_version)
        except ConcurrencyError as exc:
            raise StreamConflict(stream_id, expected_version, str(exc)) from exc
        if publish:
            envelopes = [_envelope(s) for s in stored]
            if self.publisher is None:
                await self.tx.outbox_add(envelopes)
            else:
                for envelope in envelopes:
                    self.publisher(envelope)
        return [recorded(s, event) for s, event in zip(stored, events, strict=True)]

    async def read(
        self, stream_id: str, *, from_version: int = 1, as_of: AsOf | None = None
    ) -> list[RecordedEvent[Event]]:
        """The stream's events from `from_version` on, oldest first, upcast to their
        current versions. `as_of` stops at a stream version, or at the last event
        recorded at or before a time (an aware datetime)."""
        if isinstance(as_of, int) and as_of < 0:
            raise ValueError(f"as_of version must be 0 or more, not {as_of}")
        if isinstance(as_of, datetime):
            _require_aware(as_of)
            stored = await self._read_stored(stream_id, from_version, None)
            stored = [s for s in stored if s.recorded_at <= as_of]
        else:
            stored = await self._read_stored(stream_id, from_version, as_of)
        return [self.decode(s) for s in stored]

    async def read_all(self, after: int = 0, limit: int = 500) -> list[RecordedEvent[Event]]:
        """The global log after position `after`, in position order, upcast."""
        return [self.decode(s) for s in await self.tx.events_after(after, limit)]

    async def version(self, stream_id: str) -> int:
        """The stream's version: how many events it holds (0 when it does not exist)."""
        return await self.tx.stream_version(stream_id)

    def decode(self, stored: StoredEvent) -> RecordedEvent[Event]:
        """One stored event as its current contract, or `UnreadableEvent` saying which
        event and why."""
        where = f"stream {stored.stream_id!r} version {stored.version} (position {stored.position})"
        if not isinstance(stored.payload, dict):
            raise UnreadableEvent(
                f"{where}: stored payload of {stored.type} is JSON "
                f"{type(stored.payload).__name__}, not an object"
            )
        try:
            message = self.contracts.parse(stored.type, stored.schema_version, stored.payload)
        except SagabusError as exc:
            raise UnreadableEvent(f"{where}: {exc}") from exc
        except Exception as exc:
            # an upcaster meeting a payload it cannot convert: the payload is corrupt
            raise UnreadableEvent(
                f"{where}: upcasting {stored.type} from version {stored.schema_version} "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(message, Event):
            raise UnreadableEvent(f"{where}: {stored.type} is a command, not an event")
        return recorded(stored, message)

    async def _read_stored(
        self, stream_id: str, from_version: int, to_version: int | None
    ) -> list[StoredEvent]:
        ahead = already_read(self.tx, stream_id, from_version, to_version)
        if ahead is not None:
            return ahead
        try:
            return await self.tx.events_read(
                stream_id, from_version=from_version, to_version=to_version
            )
        except orjson.JSONDecodeError as exc:
            raise UnreadableEvent(
                f"stream {stream_id!r}: a stored event payload is not JSON: {exc}"
            ) from exc


def _envelope(stored: StoredEvent) -> Envelope:
    meta = stored.metadata
    return Envelope(
        type=stored.type,
        kind="event",
        payload=stored.payload,
        message_id=_text(meta, "message_id") or new_id(),
        correlation_id=_text(meta, "correlation_id"),
        causation_id=_text(meta, "causation_id"),
        traceparent=_text(meta, "traceparent"),
        timestamp=stored.recorded_at,
        version=stored.schema_version,
        headers={"stream_id": stored.stream_id, "stream_version": stored.version},
    )


def _text(meta: Mapping[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"as_of {moment.isoformat()} has no time zone; pass an aware datetime")
