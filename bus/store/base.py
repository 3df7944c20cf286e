"""The store interface every backend implements (SQLite, PostgreSQL).

Everything durable goes through a `Transaction`: the inbox, the outbox, saga instances
with their history and timers, the services' own state, and the event store. A unit of
work is one transaction, and a batch of deliveries may share one transaction with a
savepoint per delivery (group commit, DESIGN section 10): a single message is a batch
of one.

The behaviour is pinned by one conformance suite (`tests/store/conformance.py`) that
both backends run.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bus.errors import ConcurrencyError
from bus.wire.envelope import Envelope

SagaStatus = Literal["running", "completed", "failed", "parked"]

CONFLICT_ERRORS = frozenset({"DeadlockDetectedError", "SerializationError"})
"""Driver errors (asyncpg's names) that mean "lost a race with another transaction"."""


def is_conflict(exc: BaseException) -> bool:
    """True when `exc` says the unit of work lost a race (an optimistic version check,
    a deadlock, a serialization failure): running it again is the cure."""
    return isinstance(exc, ConcurrencyError) or type(exc).__name__ in CONFLICT_ERRORS


@dataclass(slots=True)
class SagaRecord:
    """A saga instance as stored. `machine` holds the state machine's own bookkeeping
    (completed steps, compensation progress, retry counters) as plain JSON data."""

    id: str
    saga: str
    definition_version: int
    correlation: str
    state: str
    status: SagaStatus = "running"
    data: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    row_version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One step of an instance: the input that came, where it moved, what it caused."""

    instance_id: str
    at: datetime
    input: str
    message_id: str | None
    from_state: str | None
    to_state: str
    effects: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0


@dataclass(frozen=True, slots=True)
class TimerRecord:
    """A durable timer: at `due_at`, `name` fires into instance `instance_id`."""

    instance_id: str
    saga: str
    name: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event in the event store. `version` counts within the stream from 1;
    `position` is global and increases with every append."""

    stream_id: str
    version: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    position: int


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append to a stream."""

    type: str
    payload: dict[str, Any]
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectionRecord:
    name: str
    position: int
    status: Literal["running", "parked"] = "running"
    reason: str | None = None
    failures: int = 0


class Transaction(abc.ABC):
    """One atomic unit of work. Leaving `Store.transaction()` normally commits; an
    exception rolls back everything done in it."""

    @abc.abstractmethod
    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested unit: an exception inside undoes only what was done inside."""

    # -- inbox ---------------------------------------------------------------------
    @abc.abstractmethod
    async def inbox_add(self, endpoint: str, message_id: str) -> bool:
        """Records the delivery; False when `(endpoint, message_id)` was seen before."""

    @abc.abstractmethod
    async def inbox_purge(self, older_than: datetime) -> int:
        """Deletes inbox rows received before `older_than`; returns how many."""

    # -- outbox --------------------------------------------------------------------
    @abc.abstractmethod
    async def outbox_add(self, envelopes: Sequence[Envelope]) -> list[int]:
        """Queues messages to publish after commit; returns their row ids in order."""

    @abc.abstractmethod
    async def outbox_pending(self, limit: int = 500) -> list[tuple[int, Envelope]]:
        """Unsent rows, oldest first (on PostgreSQL rows locked by another relay are
        skipped)."""

    @abc.abstractmethod
    async def outbox_mark_sent(self, ids: Sequence[int]) -> None: ...

    @abc.abstractmethod
    async def outbox_backlog(self) -> int:
        """Number of unsent rows."""

    @abc.abstractmethod
    async def outbox_purge(self, sent_before: datetime) -> int:
        """Deletes rows sent before `sent_before` (unsent rows always stay); returns how
        many. Sent rows are kept for a while to show what left; this bounds the table."""

    # -- services' own state -------------------------------------------------------
    @abc.abstractmethod
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        """A service's document; `for_update` locks it until the transaction ends."""

    @abc.abstractmethod
    async def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def state_delete(self, namespace: str, key: str) -> None: ...

    @abc.abstractmethod
    async def state_list(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        """Every document of a namespace, ordered by key."""

    # -- saga instances --------------------------------------------------------------
    @abc.abstractmethod
    async def saga_insert(self, record: SagaRecord) -> None:
        """Raises `DuplicateInstance` when `(saga, correlation)` exists already."""

    @abc.abstractmethod
    async def saga_get(self, instance_id: str, *, for_update: bool = False) -> SagaRecord | None:
        ...

    @abc.abstractmethod
    async def saga_find(
        self, saga: str, correlation: str, *, for_update: bool = False
    ) -> SagaRecord | None: ...

    @abc.abstractmethod
    async def saga_update(self, record: SagaRecord) -> SagaRecord:
        """Saves `record` if the stored `row_version` still equals `record.row_version`,
        else raises `ConcurrencyError`. Returns the record with the new row_version."""

    @abc.abstractmethod
    async def saga_list(
        self,
        *,
        saga: str | None = None,
        state: str | None = None,
        status: SagaStatus | None = None,
        limit: int = 100,
    ) -> list[SagaRecord]:
        """Newest first."""

    @abc.abstractmethod
    async def saga_count(self) -> list[tuple[str, str, int]]:
        """(saga, state, count) for every non-empty pair."""

    @abc.abstractmethod
    async def history_append(self, records: Sequence[HistoryRecord]) -> None: ...

    @abc.abstractmethod
    async def history(self, instance_id: str) -> list[HistoryRecord]:
        """Oldest first, with `seq` filled in."""

    # -- timers ----------------------------------------------------------------------
    @abc.abstractmethod
    async def timer_arm(self, timer: TimerRecord) -> None:
        """Arms a timer, replacing one of the same `(instance_id, name)`."""

    @abc.abstractmethod
    async def timer_cancel(self, instance_id: str, names: Sequence[str] | None = None) -> None:
        """Cancels the named timers of an instance, or all of them when `names` is None."""

    @abc.abstractmethod
    async def timers_due(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        """Timers due at `now`, locked for this transaction (others skip them); the
        caller deletes each one it fires with `timer_delete` in the same transaction."""

    @abc.abstractmethod
    async def timer_delete(self, timer_id: int) -> None: ...

    @abc.abstractmethod
    async def timers_of(self, instance_id: str) -> list[TimerRecord]: ...

    @abc.abstractmethod
    async def next_timer_due(self) -> datetime | None: ...

    # -- event store -----------------------------------------------------------------
    @abc.abstractmethod
    async def events_append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int
    ) -> list[StoredEvent]:
        """Appends after `expected_version` (0 for a new stream); raises
        `ConcurrencyError` and writes nothing when the stream is elsewhere."""

    @abc.abstractmethod
    async def events_read(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]: ...

    @abc.abstractmethod
    async def events_after(self, position: int, limit: int = 500) -> list[StoredEvent]:
        """The global log after `position`, in position order."""

    @abc.abstractmethod
    async def stream_version(self, stream_id: str) -> int:
        """0 when the stream does not exist."""

    @abc.abstractmethod
    async def snapshot_save(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        ...

    @abc.abstractmethod
    async def snapshot_load(
        self, stream_id: str, *, at_most: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        """The newest snapshot at or below version `at_most`."""

    @abc.abstractmethod
    async def projection_get(self, name: str, *, for_update: bool = False) -> ProjectionRecord:
        """A projection's checkpoint (position 0 when it never ran)."""

    @abc.abstractmethod
    async def projection_put(self, record: ProjectionRecord) -> None: ...

    # -- browsing (the console) ----------------------------------------------------------
    async def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query written with `?` placeholders; datetimes among
        `params` are written as the backend stores them. The console's queries
        (`bus.store.browse`) run through this."""
        raise NotImplementedError(f"{type(self).__name__} cannot run browsing queries")


class Store(abc.ABC):
    """A connection to one database; `open()` creates or migrates the schema."""

    url: str

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
