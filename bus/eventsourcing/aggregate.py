"""Aggregates: state rebuilt from a stream of events, changed only by recording more.

An aggregate's state is a pydantic model (`initial_state()`), so it can be shown,
compared and snapshotted as plain JSON. Command methods check invariants against the
state and `record` new events; a method marked `@applies(EventType)` folds one event
into the state, for replayed and newly recorded events alike. The aggregate remembers
the stream version it was loaded at (`version`) and its `pending` events until a
`Repository` saves them with that version as the expected one.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ValidationError

from bus.errors import SagabusError
from bus.eventsourcing.dispatch import dispatch_table, mark
from bus.wire.contracts import Event

if TYPE_CHECKING:
    from bus.store.base import Transaction

S = TypeVar("S", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


class InvariantViolation(SagabusError):
    """A command that the aggregate's current state does not allow."""


class UnappliableEvent(SagabusError):
    """An event in a stream that its aggregate has no `@applies` method for."""


def applies(event_type: type[Event]) -> Callable[[F], F]:
    """Decorator: the aggregate method that folds events of `event_type` into state."""
    return mark(event_type)


class Aggregate(abc.ABC, Generic[S]):
    """Base of event-sourced aggregates.

    Class attributes:
        category: names the aggregate's streams: `"{category}-{id}"`. Setting it
            registers the class, so `aggregate_for_stream` finds it (CLI, tools).
        snapshot_every: save a snapshot each time the version crosses a multiple of
            this many events (None, the default: never). Loading starts from the
            newest snapshot, then replays the events after it.
        snapshot_schema: bump it whenever the state model changes incompatibly; older
            snapshots are then ignored and the state is rebuilt from events.
    """

    category: ClassVar[str]
    snapshot_every: ClassVar[int | None] = None
    snapshot_schema: ClassVar[int] = 1
    _appliers: ClassVar[dict[type[Event], str]] = {}

    def __init__(self, id: str) -> None:
        self.id = id
        self.version = 0
        self.state: S = self.initial_state()
        self._pending: list[Event] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._appliers = dispatch_table(cls)
        if "category" in cls.__dict__:
            _register(cls)

    @abc.abstractmethod
    def initial_state(self) -> S:
        """The state before the first event."""

    # -- streams ---------------------------------------------------------------------
    @classmethod
    def stream_id(cls, id: str) -> str:
        return f"{cls.category}-{id}"

    @classmethod
    def id_of(cls, stream_id: str) -> str:
        prefix = f"{cls.category}-"
        if not stream_id.startswith(prefix):
            raise ValueError(f"stream {stream_id!r} is not a {cls.category} stream")
        return stream_id[len(prefix) :]

    # -- rebuilding ------------------------------------------------------------------
    @classmethod
    def from_events(cls, id: str, events: Iterable[Event], *, version: int = 0) -> Self:
        """The aggregate after `events`, which follow stream version `version` (0: the
        first event of the stream; a snapshot's version otherwise)."""
        aggregate = cls(id)
        aggregate.version = version
        aggregate.replay(events)
        return aggregate

    def replay(self, events: Iterable[Event]) -> None:
        """Folds stored events into the state; each one moves `version` on by one."""
        for event in events:
            self._apply(event)
            self.version += 1

    @property
    def exists(self) -> bool:
        """Whether the stream has any event, stored or pending."""
        return self.version > 0 or bool(self._pending)

    # -- changing --------------------------------------------------------------------
    def record(self, event: Event) -> None:
        """Applies a new event to the state and keeps it pending until saved."""
        self._apply(event)
        self._pending.append(event)

    @property
    def pending(self) -> tuple[Event, ...]:
        return tuple(self._pending)

    def saved(self) -> None:
        """The pending events are stored now: the aggregate is at their version."""
        self.version += len(self._pending)
        self._pending.clear()

    def _apply(self, event: Event) -> None:
        name = self._appliers.get(type(event))
        if name is None:
            raise UnappliableEvent(
                f"{type(self).__name__} has no @applies method for {event.message_type()}"
            )
        getattr(self, name)(event)

    # -- snapshots -------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The state as JSON data, tagged with `snapshot_schema`."""
        return {"schema": self.snapshot_schema, "state": self.state.model_dump(mode="json")}

    @classmethod
    def from_snapshot(cls, id: str, version: int, data: Mapping[str, Any]) -> Self | None:
        """The aggregate at `version` from snapshot `data`, or None when the snapshot
        is of another `snapshot_schema` or no longer fits the state model."""
        if data.get("schema") != cls.snapshot_schema:
            return None
        aggregate = cls(id)
        try:
            aggregate.state = type(aggregate.state).model_validate(data.get("state"))
        except ValidationError:
            return None
        aggregate.version = version
        return aggregate


_aggregates: dict[str, type[Aggregate[Any]]] = {}


def _register(cls: type[Aggregate[Any]]) -> None:
    category = cls.category
    if not category or "-" in category:
        raise ValueError(f"{cls.__qualname__}.category must be a non-empty name without '-'")
    known = _aggregates.get(category)
    if known is not None and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise ValueError(
            f"stream category {category!r} belongs to {known.__module__}.{known.__qualname__}"
        )
    _aggregates[category] = cls


def registered_aggregates() -> dict[str, type[Aggregate[Any]]]:
    """Every aggregate class with a `category`, by category."""
    return dict(_aggregates)


def aggregate_for_stream(stream_id: str) -> type[Aggregate[Any]] | None:
    """The registered aggregate whose streams `stream_id` belongs to, if any."""
    category, sep, _ = stream_id.partition("-")
    return _aggregates.get(category) if sep else None


async def linked_streams(tx: Transaction, key: str) -> list[str]:
    """The streams named by `key` in every stream category of the store that has
    events (`order-<key>` for the order saga's correlation value): `tx.linked_streams`,
    which needs no aggregate class imported."""
    return await tx.linked_streams(key)
