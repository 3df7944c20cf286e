"""Event streams, snapshots and projection checkpoints on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bus.errors import ConcurrencyError
from bus.store.codec import (
    EVENT_COLUMNS,
    PROJECTION_COLUMNS,
    appended_events,
    dump_json,
    load_json,
    moved_on_message,
    time_text,
    utcnow,
)
from bus.store.events import Events, appendable
from bus.store.records import NewEvent, ProjectionRecord, StoredEvent
from bus.store.sqlite.connection import CODEC, ROWS_PER_INSERT, SQLiteRole

MANY = (
    f"SELECT {EVENT_COLUMNS} FROM event WHERE stream_id IN (SELECT value FROM json_each(?)) "
    "ORDER BY stream_id, version"
)
"""Every event of several streams (the ids as a JSON array: one statement text
whatever their number)."""


class SQLiteEvents(SQLiteRole, Events):
    async def events_append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int
    ) -> list[StoredEvent]:
        if not await appendable(self, stream_id, events, expected_version):
            return []
        now = utcnow()
        recorded_at = time_text(now)
        rows = [
            (
                stream_id,
                expected_version + number,
                event.type,
                event.schema_version,
                dump_json(event.payload),
                dump_json(event.metadata),
                recorded_at,
            )
            for number, event in enumerate(events, start=1)
        ]
        positions: list[int] = []
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            # the version check and the insert in one statement
            returned = self._rows(
                "INSERT INTO event (stream_id, version, type, schema_version, payload, "
                "metadata, recorded_at) SELECT * FROM (VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                + ") WHERE (SELECT coalesce(max(version), 0) FROM event WHERE stream_id = ?)"
                " = ? RETURNING position",
                [*(value for row in chunk for value in row), stream_id, expected_version + start],
            )
            if not returned:
                actual = await self.stream_version(stream_id)
                raise ConcurrencyError(moved_on_message(stream_id, expected_version, actual))
            positions.extend(sorted(row[0] for row in returned))
        return appended_events(stream_id, expected_version, events, now, positions)

    async def events_read_many(self, stream_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        wanted = list(dict.fromkeys(stream_ids))
        found: dict[str, list[StoredEvent]] = {s: [] for s in wanted}
        if wanted:
            for row in self._rows(MANY, (dump_json(wanted),)):
                event = CODEC.event(row)
                found[event.stream_id].append(event)
        return found

    async def _events_selected(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        return [CODEC.event(row) for row in self._rows(sql, params)]

    async def stream_version(self, stream_id: str) -> int:
        version = self._value(
            "SELECT max(version) FROM event WHERE stream_id = ?", (stream_id,)
        )
        return int(version or 0)

    async def linked_streams(self, key: str) -> list[str]:
        rows = self._rows(
            "SELECT category || '-' || ? FROM stream_category WHERE EXISTS (SELECT 1 FROM "
            "event WHERE stream_id = category || '-' || ?) ORDER BY category",
            (key, key),
        )
        return [row[0] for row in rows]

    async def snapshot_save(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO snapshot (stream_id, version, state) VALUES (?, ?, ?) "
            "ON CONFLICT (stream_id, version) DO UPDATE SET state = excluded.state",
            (stream_id, version, dump_json(state)),
        )

    async def snapshot_load(
        self, stream_id: str, *, at_most: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        rows = self._rows(
            "SELECT version, state FROM snapshot WHERE stream_id = ? "
            "AND (? IS NULL OR version <= ?) ORDER BY version DESC LIMIT 1",
            (stream_id, at_most, at_most),
        )
        return (rows[0][0], load_json(rows[0][1])) if rows else None

    async def projection_get(self, name: str, *, for_update: bool = False) -> ProjectionRecord:
        rows = self._rows(
            f"SELECT {PROJECTION_COLUMNS} FROM projection WHERE name = ?", (name,)
        )
        return CODEC.projection(rows[0]) if rows else ProjectionRecord(name=name, position=0)

    async def projection_put(self, record: ProjectionRecord) -> None:
        self._conn.execute(
            f"INSERT INTO projection ({PROJECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "status = excluded.status, reason = excluded.reason, failures = excluded.failures",
            (record.name, record.position, record.status, record.reason, record.failures),
        )
