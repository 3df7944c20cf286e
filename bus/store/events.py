"""The event role of a transaction: event streams, snapshots and projection
checkpoints (the event store under `bus.eventsourcing`)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from bus.errors import ConcurrencyError
from bus.store.codec import EVENT_COLUMNS, moved_on_message
from bus.store.records import NewEvent, ProjectionRecord, StoredEvent


class Events(abc.ABC):
    """Streams with optimistic versions and one global log, snapshots, checkpoints."""

    # -- streams ---------------------------------------------------------------------
    @abc.abstractmethod
    async def events_append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int
    ) -> list[StoredEvent]:
        """Appends after `expected_version` (0 for a new stream); raises
        `ConcurrencyError` and writes nothing when the stream is elsewhere."""

    async def events_read(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        sql = f"SELECT {EVENT_COLUMNS} FROM event WHERE stream_id = ? AND version >= ?"
        params: list[Any] = [stream_id, from_version]
        if to_version is not None:
            sql += " AND version <= ?"
            params.append(to_version)
        return await self._events_selected(f"{sql} ORDER BY version", params)

    async def events_read_many(self, stream_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Every event of each of `stream_ids`, by stream, oldest first: what
        `events_read(s)` returns for each `s` (an empty list for a stream with no event),
        in one statement on the backends (one read per stream here)."""
        return {s: await self.events_read(s) for s in dict.fromkeys(stream_ids)}

    async def events_after(self, position: int, limit: int = 500) -> list[StoredEvent]:
        """The global log after `position`, in position order."""
        return await self._events_selected(
            f"SELECT {EVENT_COLUMNS} FROM event WHERE position > ? ORDER BY position LIMIT ?",
            [position, limit],
        )

    @abc.abstractmethod
    async def _events_selected(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        """The events a query selecting `EVENT_COLUMNS`, written with `?` placeholders,
        returns."""

    @abc.abstractmethod
    async def stream_version(self, stream_id: str) -> int:
        """0 when the stream does not exist."""

    @abc.abstractmethod
    async def linked_streams(self, key: str) -> list[str]:
        """The streams `{category}-{key}` that exist, of every category that has a
        stream (a category: a stream id's part before its first '-'), by category:
        `order-<key>` for the order saga's correlation value."""

    # -- snapshots -------------------------------------------------------------------
    @abc.abstractmethod
    async def snapshot_save(self, stream_id: str, version: int, state: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def snapshot_load(
        self, stream_id: str, *, at_most: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        """The newest snapshot at or below version `at_most`."""

    # -- projections -----------------------------------------------------------------
    @abc.abstractmethod
    async def projection_get(self, name: str, *, for_update: bool = False) -> ProjectionRecord:
        """A projection's checkpoint (position 0 when it never ran)."""

    @abc.abstractmethod
    async def projection_put(self, record: ProjectionRecord) -> None: ...


async def appendable(
    role: Events, stream_id: str, events: Sequence[NewEvent], expected_version: int
) -> bool:
    """Whether `events_append` has rows to write: False for no `events` on a stream at
    `expected_version`. Raises ValueError for a negative version and `ConcurrencyError`
    for no events on a stream elsewhere (the backends' shared prologue)."""
    if expected_version < 0:
        raise ValueError(f"expected_version must be 0 or more, not {expected_version}")
    if events:
        return True
    actual = await role.stream_version(stream_id)
    if actual != expected_version:
        raise ConcurrencyError(moved_on_message(stream_id, expected_version, actual))
    return False
