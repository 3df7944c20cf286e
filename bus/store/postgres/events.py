"""Event streams, snapshots and projection checkpoints on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bus.errors import ConcurrencyError
from bus.store.codec import (
    EVENT_COLUMNS,
    PROJECTION_COLUMNS,
    appended_events,
    dump_json,
    load_json,
    moved_on_message,
    utcnow,
)
from bus.store.events import Events, appendable
from bus.store.postgres.connection import CODEC, PostgresRole, numbered
from bus.store.records import NewEvent, ProjectionRecord, StoredEvent

INSERT_EVENTS = """
INSERT INTO event (stream_id, version, type, schema_version, payload, metadata, recorded_at)
SELECT $1, $2::int + r.n::int, r.type, r.schema_version, r.payload::json, r.metadata::json, $3
FROM unnest($4::text[], $5::int[], $6::text[], $7::text[])
     WITH ORDINALITY AS r(type, schema_version, payload, metadata, n)
WHERE (SELECT coalesce(max(version), 0) FROM event WHERE stream_id = $1) = $2
ORDER BY r.n
RETURNING position"""

MANY = (
    f"SELECT {EVENT_COLUMNS} FROM event WHERE stream_id = ANY($1::text[]) "
    "ORDER BY stream_id, version"
)
"""Every event of several streams (the `(stream_id, version)` key's index)."""


class PostgresEvents(PostgresRole, Events):
    async def events_append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int
    ) -> list[StoredEvent]:
        if not await appendable(self, stream_id, events, expected_version):
            return []
        # held until commit: positions are handed out in commit order (module docstring);
        # taken once per transaction (a rolled-back savepoint forgets it: `savepoint`)
        if not self._event_table_locked:
            await self._conn.execute("LOCK TABLE event IN EXCLUSIVE MODE")
            self._event_table_locked = True
        now = utcnow()
        try:
            rows = await self._conn.fetch(
                INSERT_EVENTS,
                stream_id,
                expected_version,
                now,
                [e.type for e in events],
                [e.schema_version for e in events],
                [dump_json(e.payload) for e in events],
                [dump_json(e.metadata) for e in events],
            )
        except asyncpg.UniqueViolationError:
            # only reachable above READ COMMITTED, where the version check may read a
            # snapshot older than the lock
            raise ConcurrencyError(
                f"stream {stream_id!r} moved on from version {expected_version} "
                "while this append ran"
            ) from None
        if not rows:
            actual = await self.stream_version(stream_id)
            raise ConcurrencyError(moved_on_message(stream_id, expected_version, actual))
        positions = sorted(row[0] for row in rows)
        return appended_events(stream_id, expected_version, events, now, positions)

    async def events_read_many(self, stream_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        wanted = list(dict.fromkeys(stream_ids))
        found: dict[str, list[StoredEvent]] = {s: [] for s in wanted}
        if wanted:
            for row in await self._conn.fetch(MANY, wanted):
                event = CODEC.event(row)
                found[event.stream_id].append(event)
        return found

    async def _events_selected(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        return [CODEC.event(row) for row in await self._conn.fetch(numbered(sql), *params)]

    async def stream_version(self, stream_id: str) -> int:
        version: int = await self._conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM event WHERE stream_id = $1", stream_id
        )
        return version

    async def linked_streams(self, key: str) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT category || '-' || $1 FROM stream_category WHERE EXISTS (SELECT 1 FROM "
            "event WHERE stream_id = category || '-' || $1) ORDER BY category COLLATE \"C\"",
            key,
        )
        return [row[0] for row in rows]

    async def snapshot_save(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO snapshot (stream_id, version, state) VALUES ($1, $2, $3) "
            "ON CONFLICT (stream_id, version) DO UPDATE SET state = excluded.state",
            stream_id,
            version,
            dump_json(state),
        )

    async def snapshot_load(
        self, stream_id: str, *, at_most: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        row = await self._conn.fetchrow(
            "SELECT version, state FROM snapshot WHERE stream_id = $1 "
            "AND ($2::int IS NULL OR version <= $2) ORDER BY version DESC LIMIT 1",
            stream_id,
            at_most,
        )
        return None if row is None else (row[0], load_json(row[1]))

    async def projection_get(self, name: str, *, for_update: bool = False) -> ProjectionRecord:
        select = f"SELECT {PROJECTION_COLUMNS} FROM projection WHERE name = $1"
        if not for_update:
            row = await self._conn.fetchrow(select, name)
        else:
            row = await self._conn.fetchrow(f"{select} FOR UPDATE", name)
            if row is None:
                # a checkpoint row to hold the lock on, so two projectors never both
                # start from 0
                await self._conn.execute(
                    f"INSERT INTO projection ({PROJECTION_COLUMNS}) "
                    "VALUES ($1, 0, 'running', NULL, 0) ON CONFLICT DO NOTHING",
                    name,
                )
                row = await self._conn.fetchrow(f"{select} FOR UPDATE", name)
        return ProjectionRecord(name=name, position=0) if row is None else CODEC.projection(row)

    async def projection_put(self, record: ProjectionRecord) -> None:
        await self._conn.execute(
            f"INSERT INTO projection ({PROJECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "status = excluded.status, reason = excluded.reason, failures = excluded.failures",
            record.name,
            record.position,
            record.status,
            record.reason,
            record.failures,
        )
