"""Inbox and outbox on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bus.store.codec import ENVELOPE_COLUMNS, dump_json, time_text, utcnow
from bus.store.messaging import BACKLOG_BY_TYPE, Messaging
from bus.store.sqlite.connection import CODEC, ROWS_PER_INSERT, SQLiteRole
from bus.wire.envelope import Envelope

WRITE_OUTBOX = (
    f"INSERT INTO outbox (id, {ENVELOPE_COLUMNS}, created_at, sent_at) "
    "SELECT * FROM (VALUES {}) AS r WHERE r.column1 IS NULL "
    "OR r.column1 IN (SELECT id FROM outbox) "
    "ON CONFLICT (id) DO UPDATE SET sent_at = excluded.sent_at WHERE outbox.sent_at IS NULL "
    "RETURNING id, sent_at IS NULL"
)
"""New rows and earlier rows marked sent in one statement (`outbox_write`), as
PostgreSQL's does: a new row comes without an id (inserted, unsent); a row to mark
comes with its id, so it conflicts with itself and only its `sent_at` is set (an id
that is not there any more is left out, never inserted). Returned: each inserted row's
id, and each marked one's, told apart by `sent_at`."""

_NO_ENVELOPE = ("", "", "", "", None, None, "", 0, None, "", "")
"""The columns of a row to mark sent: never written (the row exists)."""


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

    async def outbox_write(self, envelopes: Sequence[Envelope], sent: Sequence[int]) -> list[int]:
        if not envelopes or not sent or len(envelopes) + len(sent) > ROWS_PER_INSERT:
            return await super().outbox_write(envelopes, sent)
        now = time_text(utcnow())
        rows = [(None, *CODEC.envelope_params(e), now, None) for e in envelopes]
        rows += [(row_id, *_NO_ENVELOPE, now) for row_id in sent]
        written = self._rows(
            WRITE_OUTBOX.format(", ".join(["(" + ", ".join(["?"] * 13) + ")"] * len(rows))),
            [value for row in rows for value in row],
        )
        return sorted(row_id for row_id, new in written if new)

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
