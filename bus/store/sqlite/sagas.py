"""Saga instances, history and timers on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NoReturn

from bus.errors import ConcurrencyError, DuplicateInstance
from bus.store.codec import (
    ARMED_TIMER,
    HISTORY_COLUMNS,
    SAGA_COLUMNS,
    TIMER_COLUMNS,
    dump_json,
    duplicate_message,
    parse_time_text,
    stale_message,
    time_text,
    utcnow,
)
from bus.store.records import HistoryRecord, SagaRecord, StepWrites, TimerRecord
from bus.store.sagas import Sagas
from bus.store.sqlite.connection import CODEC, SQLiteRole
from bus.store.sqlite.steps import DUPLICATE, STALE, START, STEP, writes_params

BY_CORRELATION = f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE correlation = ? ORDER BY saga"
"""Every saga's instance with one correlation value (index `saga_instance_correlation`)."""

MANY = (
    f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE id IN (SELECT value FROM json_each(?)) "
    "OR (saga = ? AND correlation IN (SELECT value FROM json_each(?))) ORDER BY id"
)
"""The instances of a batch, by id or by one saga's correlation values (the lists as
JSON arrays: one statement text whatever their length)."""


class SQLiteSagas(SQLiteRole, Sagas):
    async def saga_insert(self, record: SagaRecord) -> None:
        inserted = self._changes(
            f"INSERT INTO saga_instance ({SAGA_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            CODEC.saga_params(record, utcnow()),
        )
        if not inserted:
            existing = self._value(
                "SELECT id FROM saga_instance WHERE saga = ? AND correlation = ?",
                (record.saga, record.correlation),
            )
            raise DuplicateInstance(duplicate_message(record, existing))

    async def saga_start(self, record: SagaRecord, writes: StepWrites) -> None:
        params = (*CODEC.saga_params(record, utcnow()), *writes_params(writes))
        if not self._written(START, params, DUPLICATE):
            existing = self._value(
                "SELECT id FROM saga_instance WHERE saga = ? AND correlation = ?",
                (record.saga, record.correlation),
            )
            raise DuplicateInstance(duplicate_message(record, existing))

    async def saga_step(self, record: SagaRecord, writes: StepWrites) -> SagaRecord:
        now = utcnow()
        params = (*CODEC.saga_update_params(record, now), *writes_params(writes))
        if not self._written(STEP, params, STALE):
            self._stale(record)
        return replace(record, row_version=record.row_version + 1, updated_at=now)

    def _written(self, sql: str, params: Sequence[Any], refused: str) -> bool:
        """Runs a one-statement step (`bus.store.sqlite.steps`); False when its trigger
        refused to write the instance (nothing written)."""
        try:
            self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            if str(exc) != refused:
                raise
            return False
        return True

    def _stale(self, record: SagaRecord) -> NoReturn:
        actual = self._value("SELECT row_version FROM saga_instance WHERE id = ?", (record.id,))
        raise ConcurrencyError(stale_message(record, actual))

    async def saga_get(self, instance_id: str, *, for_update: bool = False) -> SagaRecord | None:
        rows = self._rows(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE id = ?", (instance_id,)
        )
        return CODEC.saga(rows[0]) if rows else None

    async def saga_find(
        self, saga: str, correlation: str, *, for_update: bool = False
    ) -> SagaRecord | None:
        rows = self._rows(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE saga = ? AND correlation = ?",
            (saga, correlation),
        )
        return CODEC.saga(rows[0]) if rows else None

    async def saga_get_many(
        self, ids: Sequence[str], saga: str, keys: Sequence[str], *, for_update: bool = False
    ) -> list[SagaRecord]:
        # one writer at a time holds the connection: nothing to lock
        params = (dump_json(list(ids)), saga, dump_json(list(keys)))
        return [CODEC.saga(row) for row in self._rows(MANY, params)]

    async def saga_with_correlation(self, correlation: str) -> list[SagaRecord]:
        rows = self._rows(BY_CORRELATION, (correlation,))
        return [CODEC.saga(row) for row in rows]

    async def saga_update(self, record: SagaRecord) -> SagaRecord:
        now = utcnow()
        saved = self._changes(
            "UPDATE saga_instance SET definition_version = ?, state = ?, status = ?, "
            "data = ?, machine = ?, reason = ?, row_version = row_version + 1, "
            "updated_at = ? WHERE id = ? AND row_version = ?",
            CODEC.saga_update_params(record, now),
        )
        if not saved:
            self._stale(record)
        return replace(record, row_version=record.row_version + 1, updated_at=now)

    async def _sagas_selected(self, sql: str, params: Sequence[Any]) -> list[SagaRecord]:
        return [CODEC.saga(row) for row in self._rows(sql, params)]

    async def saga_count(self) -> list[tuple[str, str, int]]:
        rows = self._rows(
            "SELECT saga, state, count(*) FROM saga_instance "
            "GROUP BY saga, state ORDER BY saga, state"
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def history_append(self, records: Sequence[HistoryRecord]) -> None:
        if records:
            self._conn.executemany(
                "INSERT INTO saga_history (instance_id, seq, at, input, message_id, "
                "from_state, to_state, effects) VALUES (?, (SELECT coalesce(max(seq), 0) + 1 "
                "FROM saga_history WHERE instance_id = ?), ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.instance_id,
                        r.instance_id,
                        time_text(r.at),
                        r.input,
                        r.message_id,
                        r.from_state,
                        r.to_state,
                        dump_json(r.effects),
                    )
                    for r in records
                ],
            )

    async def history(self, instance_id: str) -> list[HistoryRecord]:
        rows = self._rows(
            f"SELECT {HISTORY_COLUMNS} FROM saga_history WHERE instance_id = ? ORDER BY seq",
            (instance_id,),
        )
        return [CODEC.history(row) for row in rows]

    async def timer_arm(self, timer: TimerRecord) -> None:
        self._conn.execute(
            f"INSERT INTO timer ({ARMED_TIMER.sql}) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance_id, name) DO UPDATE SET "
            "saga = excluded.saga, due_at = excluded.due_at, payload = excluded.payload",
            CODEC.params(ARMED_TIMER, timer),
        )

    async def timer_cancel(self, instance_id: str, names: Sequence[str] | None = None) -> None:
        if names is None:
            self._conn.execute("DELETE FROM timer WHERE instance_id = ?", (instance_id,))
        elif names:
            self._conn.execute(
                "DELETE FROM timer WHERE instance_id = ? "
                "AND name IN (SELECT value FROM json_each(?))",
                (instance_id, dump_json(list(names))),
            )

    async def timers_set(
        self, instance_id: str, cancel: Sequence[str], arm: Sequence[TimerRecord]
    ) -> None:
        if cancel:
            await self.timer_cancel(instance_id, cancel)
        if arm:
            self._conn.execute(
                f"INSERT INTO timer ({ARMED_TIMER.sql}) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(arm))
                + " ON CONFLICT (instance_id, name) DO UPDATE SET saga = excluded.saga, "
                "due_at = excluded.due_at, payload = excluded.payload",
                [value for timer in arm for value in CODEC.params(ARMED_TIMER, timer)],
            )

    async def timers_due(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        rows = self._rows(
            f"SELECT {TIMER_COLUMNS} FROM timer WHERE due_at <= ? ORDER BY due_at, id LIMIT ?",
            (time_text(now), limit),
        )
        return [CODEC.timer(row) for row in rows]

    async def timer_delete(self, timer_id: int) -> None:
        self._conn.execute("DELETE FROM timer WHERE id = ?", (timer_id,))

    async def timers_of(self, instance_id: str) -> list[TimerRecord]:
        rows = self._rows(
            f"SELECT {TIMER_COLUMNS} FROM timer WHERE instance_id = ? ORDER BY due_at, name",
            (instance_id,),
        )
        return [CODEC.timer(row) for row in rows]

    async def next_timer_due(self) -> datetime | None:
        due = self._value("SELECT min(due_at) FROM timer")
        return None if due is None else parse_time_text(due)
