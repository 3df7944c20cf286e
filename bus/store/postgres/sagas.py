"""Saga instances, history and timers on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bus.errors import ConcurrencyError, DuplicateInstance
from bus.store.codec import (
    ARMED_TIMER,
    HISTORY_COLUMNS,
    SAGA_COLUMNS,
    TIMER_COLUMNS,
    dump_json,
    duplicate_message,
    stale_message,
    utc,
    utcnow,
)
from bus.store.postgres.connection import CODEC, PostgresRole, changed, numbered
from bus.store.postgres.steps import START, STEP, writes_params
from bus.store.records import HistoryRecord, SagaRecord, StepWrites, TimerRecord
from bus.store.sagas import Sagas

BY_CORRELATION = f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE correlation = $1 ORDER BY saga"
"""Every saga's instance with one correlation value (index `saga_instance_correlation`)."""

MANY = (
    f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE id = ANY($1::text[]) "
    "OR (saga = $2 AND correlation = ANY($3::text[])) ORDER BY id"
)
"""The instances of a batch, by id or by one saga's correlation values (ordered by id,
so that two transactions taking FOR UPDATE lock their rows in the same order)."""

INSERT_HISTORY = """
INSERT INTO saga_history (instance_id, seq, at, input, message_id, from_state, to_state,
                          effects)
SELECT r.instance_id,
       coalesce((SELECT max(h.seq) FROM saga_history h WHERE h.instance_id = r.instance_id), 0)
           + row_number() OVER (PARTITION BY r.instance_id ORDER BY r.n),
       r.at, r.input, r.message_id, r.from_state, r.to_state, r.effects::json
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[])
     WITH ORDINALITY AS r(instance_id, at, input, message_id, from_state, to_state, effects, n)
"""

SET_TIMERS = """
WITH cancelled AS (DELETE FROM timer WHERE instance_id = $1 AND name = ANY($2::text[]))
INSERT INTO timer (instance_id, saga, name, due_at, payload)
SELECT $1, s, n, d, p::json
FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS a(s, n, d, p)
ON CONFLICT (instance_id, name) DO UPDATE SET
    saga = excluded.saga, due_at = excluded.due_at, payload = excluded.payload
"""
"""Cancels and arms in one statement (the DELETE runs even when nothing is armed)."""


class PostgresSagas(PostgresRole, Sagas):
    async def saga_insert(self, record: SagaRecord) -> None:
        # ON CONFLICT rather than a caught unique violation: the transaction stays usable
        status = await self._conn.execute(
            f"INSERT INTO saga_instance ({SAGA_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
            *CODEC.saga_params(record, utcnow()),
        )
        if not changed(status):
            existing = await self._conn.fetchval(
                "SELECT id FROM saga_instance WHERE saga = $1 AND correlation = $2",
                record.saga,
                record.correlation,
            )
            raise DuplicateInstance(duplicate_message(record, existing))

    async def saga_get(self, instance_id: str, *, for_update: bool = False) -> SagaRecord | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE id = $1{lock}", instance_id
        )
        return None if row is None else CODEC.saga(row)

    async def saga_find(
        self, saga: str, correlation: str, *, for_update: bool = False
    ) -> SagaRecord | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE saga = $1 AND correlation = $2{lock}",
            saga,
            correlation,
        )
        return None if row is None else CODEC.saga(row)

    async def saga_get_many(
        self, ids: Sequence[str], saga: str, keys: Sequence[str], *, for_update: bool = False
    ) -> list[SagaRecord]:
        lock = " FOR UPDATE" if for_update else ""
        rows = await self._conn.fetch(f"{MANY}{lock}", list(ids), saga, list(keys))
        return [CODEC.saga(row) for row in rows]

    async def saga_with_correlation(self, correlation: str) -> list[SagaRecord]:
        rows = await self._conn.fetch(BY_CORRELATION, correlation)
        return [CODEC.saga(row) for row in rows]

    async def saga_update(self, record: SagaRecord) -> SagaRecord:
        now = utcnow()
        status = await self._conn.execute(
            "UPDATE saga_instance SET definition_version = $1, state = $2, status = $3, "
            "data = $4, machine = $5, reason = $6, row_version = row_version + 1, "
            "updated_at = $7 WHERE id = $8 AND row_version = $9",
            *CODEC.saga_update_params(record, now),
        )
        if not changed(status):
            await self._stale(record)
        return replace(record, row_version=record.row_version + 1, updated_at=now)

    async def _stale(self, record: SagaRecord) -> None:
        actual = await self._conn.fetchval(
            "SELECT row_version FROM saga_instance WHERE id = $1", record.id
        )
        raise ConcurrencyError(stale_message(record, actual))

    async def saga_start(self, record: SagaRecord, writes: StepWrites) -> None:
        params = (*CODEC.saga_params(record, utcnow()), *writes_params(writes))
        written, seen = await self._step(START, params, record)
        if not written:
            existing = await self._conn.fetchval(
                "SELECT id FROM saga_instance WHERE saga = $1 AND correlation = $2",
                record.saga,
                record.correlation,
            )
            raise DuplicateInstance(duplicate_message(record, existing), raced=not seen)

    async def saga_step(self, record: SagaRecord, writes: StepWrites) -> SagaRecord:
        now = utcnow()
        params = (*CODEC.saga_update_params(record, now), *writes_params(writes))
        written, = await self._step(STEP, params, record)
        if not written:
            await self._stale(record)
        return replace(record, row_version=record.row_version + 1, updated_at=now)

    async def _step(self, sql: str, params: Sequence[Any], record: SagaRecord) -> Any:
        """Runs a one-statement step (`bus.store.postgres.steps`): its row, whose first
        column counts the instances written."""
        try:
            return await self._conn.fetchrow(sql, *params)
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(_history_raced([record.id])) from None

    async def _sagas_selected(self, sql: str, params: Sequence[Any]) -> list[SagaRecord]:
        return [CODEC.saga(row) for row in await self._conn.fetch(numbered(sql), *params)]

    async def saga_count(self) -> list[tuple[str, str, int]]:
        rows = await self._conn.fetch(
            "SELECT saga, state, count(*) FROM saga_instance "
            "GROUP BY saga, state ORDER BY saga, state"
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def history_append(self, records: Sequence[HistoryRecord]) -> None:
        if not records:
            return
        try:
            await self._conn.execute(
                INSERT_HISTORY,
                [r.instance_id for r in records],
                [utc(r.at) for r in records],
                [r.input for r in records],
                [r.message_id for r in records],
                [r.from_state for r in records],
                [r.to_state for r in records],
                [dump_json(r.effects) for r in records],
            )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(_history_raced([r.instance_id for r in records])) from None

    async def history(self, instance_id: str) -> list[HistoryRecord]:
        rows = await self._conn.fetch(
            f"SELECT {HISTORY_COLUMNS} FROM saga_history WHERE instance_id = $1 ORDER BY seq",
            instance_id,
        )
        return [CODEC.history(row) for row in rows]

    async def timer_arm(self, timer: TimerRecord) -> None:
        await self._conn.execute(
            f"INSERT INTO timer ({ARMED_TIMER.sql}) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance_id, name) DO UPDATE SET "
            "saga = excluded.saga, due_at = excluded.due_at, payload = excluded.payload",
            *CODEC.params(ARMED_TIMER, timer),
        )

    async def timer_cancel(self, instance_id: str, names: Sequence[str] | None = None) -> None:
        if names is None:
            await self._conn.execute("DELETE FROM timer WHERE instance_id = $1", instance_id)
        elif names:
            await self._conn.execute(
                "DELETE FROM timer WHERE instance_id = $1 AND name = ANY($2::text[])",
                instance_id,
                list(names),
            )

    async def timers_set(
        self, instance_id: str, cancel: Sequence[str], arm: Sequence[TimerRecord]
    ) -> None:
        if not cancel and not arm:
            return
        await self._conn.execute(
            SET_TIMERS,
            instance_id,
            list(cancel),
            [t.saga for t in arm],
            [t.name for t in arm],
            [utc(t.due_at) for t in arm],
            [dump_json(t.payload) for t in arm],
        )

    async def timers_due(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        rows = await self._conn.fetch(
            f"SELECT {TIMER_COLUMNS} FROM timer WHERE due_at <= $1 "
            "ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
            utc(now),
            limit,
        )
        return [CODEC.timer(row) for row in rows]

    async def timer_delete(self, timer_id: int) -> None:
        await self._conn.execute("DELETE FROM timer WHERE id = $1", timer_id)

    async def timers_of(self, instance_id: str) -> list[TimerRecord]:
        rows = await self._conn.fetch(
            f"SELECT {TIMER_COLUMNS} FROM timer WHERE instance_id = $1 ORDER BY due_at, name",
            instance_id,
        )
        return [CODEC.timer(row) for row in rows]

    async def next_timer_due(self) -> datetime | None:
        due: datetime | None = await self._conn.fetchval("SELECT min(due_at) FROM timer")
        return due


def _history_raced(instance_ids: Sequence[str]) -> str:
    return (
        f"history of saga instance(s) {', '.join(sorted(set(instance_ids)))} was appended "
        "to concurrently: someone else saved it first"
    )
