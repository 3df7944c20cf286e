"""Inbox and outbox on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bus.store.codec import ENVELOPE_COLUMNS, utc, utcnow
from bus.store.messaging import BACKLOG_BY_TYPE, Messaging
from bus.store.postgres.connection import CODEC, PostgresRole, changed
from bus.wire.envelope import Envelope

INSERT_OUTBOX = f"""
INSERT INTO outbox ({ENVELOPE_COLUMNS}, created_at)
SELECT m, k, t, p::json, c, ca, ts, v, tp, h::json, $11
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[], $8::int[], $9::text[], $10::text[])
     WITH ORDINALITY AS r(m, k, t, p, c, ca, ts, v, tp, h, n)
ORDER BY n
RETURNING id"""

WRITE_OUTBOX = f"""
WITH marked AS (
    UPDATE outbox SET sent_at = $11 WHERE id = ANY($12::bigint[]) AND sent_at IS NULL
)
{INSERT_OUTBOX}"""
"""New rows and earlier rows marked sent in one statement (`outbox_write`)."""


class PostgresMessaging(PostgresRole, Messaging):
    async def inbox_add(self, endpoint: str, message_id: str) -> bool:
        status = await self._conn.execute(
            "INSERT INTO inbox (endpoint, message_id, received_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            endpoint,
            message_id,
            utcnow(),
        )
        return changed(status) == 1

    async def inbox_add_many(self, endpoint: str, message_ids: Sequence[str]) -> set[str]:
        rows = await self._conn.fetch(
            "INSERT INTO inbox (endpoint, message_id, received_at) "
            "SELECT $1, m, $3 FROM unnest($2::text[]) AS m "
            "ON CONFLICT DO NOTHING RETURNING message_id",
            endpoint,
            list(message_ids),
            utcnow(),
        )
        return {row[0] for row in rows}

    async def inbox_purge(self, older_than: datetime) -> int:
        return changed(
            await self._conn.execute("DELETE FROM inbox WHERE received_at < $1", utc(older_than))
        )

    async def outbox_add(self, envelopes: Sequence[Envelope]) -> list[int]:
        if not envelopes:
            return []
        columns = [list(c) for c in zip(*map(CODEC.envelope_params, envelopes), strict=True)]
        rows = await self._conn.fetch(INSERT_OUTBOX, *columns, utcnow())
        # identity values are drawn in row order, so sorted ids are in envelope order
        return sorted(row[0] for row in rows)

    async def outbox_write(self, envelopes: Sequence[Envelope], sent: Sequence[int]) -> list[int]:
        if not envelopes or not sent:
            return await super().outbox_write(envelopes, sent)
        columns = [list(c) for c in zip(*map(CODEC.envelope_params, envelopes), strict=True)]
        rows = await self._conn.fetch(WRITE_OUTBOX, *columns, utcnow(), list(sent))
        return sorted(row[0] for row in rows)

    async def outbox_pending(self, limit: int = 500) -> list[tuple[int, Envelope]]:
        rows = await self._conn.fetch(
            f"SELECT id, {ENVELOPE_COLUMNS} FROM outbox WHERE sent_at IS NULL "
            "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [(row[0], CODEC.envelope(row, 1)) for row in rows]

    async def outbox_mark_sent(self, ids: Sequence[int]) -> None:
        if ids:
            await self._conn.execute(
                "UPDATE outbox SET sent_at = $2 WHERE id = ANY($1::bigint[]) AND sent_at IS NULL",
                list(ids),
                utcnow(),
            )

    async def outbox_backlog(self) -> int:
        count: int = await self._conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return count

    async def outbox_backlog_by_type(self) -> dict[str, int]:
        rows = await self._conn.fetch(BACKLOG_BY_TYPE)
        return {row[0]: row[1] for row in rows}

    async def outbox_purge(self, sent_before: datetime) -> int:
        return changed(
            await self._conn.execute("DELETE FROM outbox WHERE sent_at < $1", utc(sent_before))
        )
