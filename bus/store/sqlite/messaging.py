"""Inbox and outbox on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bus.store.codec import ENVELOPE_COLUMNS, dump_json, time_text, utcnow
from bus.store.messaging import BACKLOG_BY_TYPE, Messaging
from bus.store.sqlite.connection import CODEC, ROWS_PER_INSERT, SQLiteRole
from bus.wire.envelope import Envelope


class SQLiteMessaging(SQLiteRole, Messaging):
    async def inbox_add(self, endpoint: str, message_id: str) -> bool:
        added = self._changes(
            "INSERT INTO inbox (endpoint, message_id, received_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (endpoint, message_id, time_text(utcnow())),
        )
        return added == 1

    async def inbox_add_many(self, endpoint: str, message_ids: Sequence[str]) -> set[str]:
        received = time_text(utcnow())
        fresh: set[str] = set()
        for start in range(0, len(message_ids), ROWS_PER_INSERT):
            chunk = message_ids[start : start + ROWS_PER_INSERT]
            rows = self._rows(
                "INSERT INTO inbox (endpoint, message_id, received_at) VALUES "
                + ", ".join(["(?, ?, ?)"] * len(chunk))
                + " ON CONFLICT DO NOTHING RETURNING message_id",
                [value for m in chunk for value in (endpoint, m, received)],
            )
            fresh.update(row[0] for row in rows)
        return fresh

    async def inbox_purge(self, older_than: datetime) -> int:
        return self._changes(
            "DELETE FROM inbox WHERE received_at < ?", (time_text(older_than),)
        )

    async def outbox_add(self, envelopes: Sequence[Envelope]) -> list[int]:
        if not envelopes:
            return []
        created_at = time_text(utcnow())
        return self._insert_many(
            f"INSERT INTO outbox ({ENVELOPE_COLUMNS}, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*CODEC.envelope_params(envelope), created_at) for envelope in envelopes],
        )

    async def outbox_pending(self, limit: int = 500) -> list[tuple[int, Envelope]]:
        rows = self._rows(
            f"SELECT id, {ENVELOPE_COLUMNS} FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [(row[0], CODEC.envelope(row, 1)) for row in rows]

    async def outbox_mark_sent(self, ids: Sequence[int]) -> None:
        if ids:
            self._conn.execute(
                "UPDATE outbox SET sent_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?)) AND sent_at IS NULL",
                (time_text(utcnow()), dump_json(list(ids))),
            )

    async def outbox_backlog(self) -> int:
        count: int = self._value("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return count

    async def outbox_backlog_by_type(self) -> dict[str, int]:
        rows = self._rows(BACKLOG_BY_TYPE)
        return {message_type: count for message_type, count in rows}

    async def outbox_purge(self, sent_before: datetime) -> int:
        return self._changes(
            "DELETE FROM outbox WHERE sent_at < ?", (time_text(sent_before),)
        )
