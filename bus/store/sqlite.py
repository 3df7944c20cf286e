"""The SQLite store: one file, zero set-up, the embedded default.

One connection per store, in WAL mode with `synchronous=FULL` (a committed unit of work
survives power loss). Transactions are serialised in the process by a lock and start
with `BEGIN IMMEDIATE`, which takes the file's write lock at once; another process on
the same file (a CLI reading status, a second daemon) waits up to `BUSY_TIMEOUT_MS`.
As only one transaction writes at a time, `for_update` needs no extra lock here and
ids handed out by one multi-row insert are consecutive.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiosqlite

from bus.errors import ConcurrencyError, ConfigurationError, DuplicateInstance
from bus.store.base import (
    HistoryRecord,
    NewEvent,
    ProjectionRecord,
    SagaRecord,
    SagaStatus,
    Store,
    StoredEvent,
    TimerRecord,
    Transaction,
)
from bus.store.browse_schema import BROWSE_INDEXES
from bus.store.codec import (
    ENVELOPE_COLUMNS,
    EVENT_COLUMNS,
    HISTORY_COLUMNS,
    PROJECTION_COLUMNS,
    SAGA_COLUMNS,
    TIMER_COLUMNS,
    RowCodec,
    dump_json,
    duplicate_message,
    load_json,
    moved_on_message,
    parse_time_text,
    stale_message,
    time_text,
    utcnow,
)
from bus.wire.envelope import Envelope

BUSY_TIMEOUT_MS = 30_000
"""How long a statement waits for another process's write lock before it fails."""

URL_PREFIX = "sqlite:///"

CODEC = RowCodec(time_out=time_text, time_in=parse_time_text)

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS sagabus_schema (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE inbox (
            endpoint TEXT NOT NULL,
            message_id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (endpoint, message_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX inbox_received_at ON inbox (received_at)",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            correlation_id TEXT,
            causation_id TEXT,
            timestamp TEXT NOT NULL,
            version INTEGER NOT NULL,
            traceparent TEXT,
            headers TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL",
        """CREATE TABLE service_state (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (namespace, key)
        ) WITHOUT ROWID""",
        """CREATE TABLE saga_instance (
            id TEXT PRIMARY KEY,
            saga TEXT NOT NULL,
            definition_version INTEGER NOT NULL,
            correlation TEXT NOT NULL,
            state TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'completed', 'failed', 'parked')),
            data TEXT NOT NULL,
            machine TEXT NOT NULL,
            reason TEXT,
            row_version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (saga, correlation)
        )""",
        "CREATE INDEX saga_instance_saga_state ON saga_instance (saga, state, created_at)",
        "CREATE INDEX saga_instance_status ON saga_instance (status, created_at)",
        "CREATE INDEX saga_instance_created_at ON saga_instance (created_at)",
        """CREATE TABLE saga_history (
            instance_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at TEXT NOT NULL,
            input TEXT NOT NULL,
            message_id TEXT,
            from_state TEXT,
            to_state TEXT NOT NULL,
            effects TEXT NOT NULL,
            PRIMARY KEY (instance_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE timer (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            instance_id TEXT NOT NULL,
            saga TEXT NOT NULL,
            name TEXT NOT NULL,
            due_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            UNIQUE (instance_id, name)
        )""",
        "CREATE INDEX timer_due_at ON timer (due_at)",
        """CREATE TABLE event (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            stream_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            type TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            payload TEXT NOT NULL,
            metadata TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            UNIQUE (stream_id, version)
        )""",
        """CREATE TABLE snapshot (
            stream_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (stream_id, version)
        ) WITHOUT ROWID""",
        """CREATE TABLE projection (
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'parked')),
            reason TEXT,
            failures INTEGER NOT NULL
        ) WITHOUT ROWID""",
    ),
    BROWSE_INDEXES,
)
"""Schema steps in order; version N is `MIGRATIONS[N - 1]`. Append, never edit."""


def database_path(url: str) -> str:
    """The file of `sqlite:///relative/path.db`, `sqlite:////abs/path.db` or
    `sqlite:///:memory:`."""
    path = url[len(URL_PREFIX) :] if url.startswith(URL_PREFIX) else ""
    if not path:
        raise ConfigurationError(
            f"bad SQLite store URL {url!r}: use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    return path


class SQLiteStore(Store):
    """A store in one SQLite file (see the module docstring for its guarantees)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = database_path(url)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    async def open(self) -> None:
        if self._conn is not None:
            return
        try:
            conn = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open SQLite store {self.path}: {exc}") from None
        try:
            await _configure(conn, self.path)
            await _migrate(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                await conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self._conn is None:
            raise RuntimeError(f"store {self.url} is not open: await store.open() first")
        conn = self._conn
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError(
                "a transaction inside a transaction of the same SQLite store would wait "
                "for itself forever: use tx.savepoint()"
            )
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                if conn.in_transaction:
                    # a cancelled task may have left its transaction open mid-rollback
                    await conn.rollback()
                await conn.execute("BEGIN IMMEDIATE")
                tx = SQLiteTransaction(conn)
                try:
                    yield tx
                    await conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        await conn.rollback()
                    raise
                finally:
                    tx.closed = True
            finally:
                self._owner = None


async def _configure(conn: aiosqlite.Connection, path: str) -> None:
    try:
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await _switch_to_wal(conn)
        await conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(f"cannot open SQLite store {path}: {exc}") from None


async def _switch_to_wal(conn: aiosqlite.Connection) -> None:
    """Turns WAL on. SQLite does not call the busy handler for this switch, so two
    processes creating one file at once see "database is locked": wait and try again,
    as the busy timeout would have."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _migrate(conn: aiosqlite.Connection) -> None:
    """Brings the schema to the newest version; `BEGIN IMMEDIATE` makes a second
    process opening the same file wait, then find nothing left to do."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(SCHEMA_TABLE)
        rows = list(await conn.execute_fetchall("SELECT max(version) FROM sagabus_schema"))
        current = rows[0][0] or 0
        if current > len(MIGRATIONS):
            raise ConfigurationError(
                f"the store's schema is at version {current}, newer than this sagabus "
                f"knows ({len(MIGRATIONS)}): upgrade sagabus"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            for statement in MIGRATIONS[version - 1]:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO sagabus_schema (version, applied_at) VALUES (?, ?)",
                (version, time_text(utcnow())),
            )
        await conn.execute("COMMIT")
    except BaseException:
        await conn.rollback()
        raise


class SQLiteTransaction(Transaction):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._c = conn
        self._savepoints = 0
        self.closed = False

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self.closed:
            raise RuntimeError("transaction used after it ended")
        return self._c

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        values = [time_text(p) if isinstance(p, datetime) else p for p in params]
        return await self._rows(sql, values)

    async def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    async def _changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def _insert_many(self, sql: str, rows: list[tuple[Any, ...]]) -> list[int]:
        """Inserts `rows` with one statement; their rowids, in order."""
        await self._conn.executemany(sql, rows)
        last: int = await self._value("SELECT last_insert_rowid()")
        return list(range(last - len(rows) + 1, last + 1))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        await self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await self._conn.execute(f"ROLLBACK TO {name}")
            await self._conn.execute(f"RELEASE {name}")
            raise
        await self._conn.execute(f"RELEASE {name}")

    # -- inbox ---------------------------------------------------------------------
    async def inbox_add(self, endpoint: str, message_id: str) -> bool:
        added = await self._changes(
            "INSERT INTO inbox (endpoint, message_id, received_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (endpoint, message_id, time_text(utcnow())),
        )
        return added == 1

    async def inbox_purge(self, older_than: datetime) -> int:
        return await self._changes(
            "DELETE FROM inbox WHERE received_at < ?", (time_text(older_than),)
        )

    # -- outbox --------------------------------------------------------------------
    async def outbox_add(self, envelopes: Sequence[Envelope]) -> list[int]:
        if not envelopes:
            return []
        created_at = time_text(utcnow())
        return await self._insert_many(
            f"INSERT INTO outbox ({ENVELOPE_COLUMNS}, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*CODEC.envelope_params(envelope), created_at) for envelope in envelopes],
        )

    async def outbox_pending(self, limit: int = 500) -> list[tuple[int, Envelope]]:
        rows = await self._rows(
            f"SELECT id, {ENVELOPE_COLUMNS} FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [(row[0], CODEC.envelope(row, 1)) for row in rows]

    async def outbox_mark_sent(self, ids: Sequence[int]) -> None:
        if ids:
            await self._conn.execute(
                "UPDATE outbox SET sent_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?)) AND sent_at IS NULL",
                (time_text(utcnow()), dump_json(list(ids))),
            )

    async def outbox_backlog(self) -> int:
        count: int = await self._value("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return count

    async def outbox_purge(self, sent_before: datetime) -> int:
        return await self._changes(
            "DELETE FROM outbox WHERE sent_at < ?", (time_text(sent_before),)
        )

    # -- services' own state -------------------------------------------------------
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        value = await self._value(
            "SELECT value FROM service_state WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return None if value is None else dict(load_json(value))

    async def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO service_state (namespace, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            (namespace, key, dump_json(value)),
        )

    async def state_delete(self, namespace: str, key: str) -> None:
        await self._conn.execute(
            "DELETE FROM service_state WHERE namespace = ? AND key = ?", (namespace, key)
        )

    async def state_list(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        rows = await self._rows(
            "SELECT key, value FROM service_state WHERE namespace = ? ORDER BY key",
            (namespace,),
        )
        return [(row[0], load_json(row[1])) for row in rows]

    # -- saga instances --------------------------------------------------------------
    async def saga_insert(self, record: SagaRecord) -> None:
        inserted = await self._changes(
            f"INSERT INTO saga_instance ({SAGA_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            CODEC.saga_params(record, utcnow()),
        )
        if not inserted:
            existing = await self._value(
                "SELECT id FROM saga_instance WHERE saga = ? AND correlation = ?",
                (record.saga, record.correlation),
            )
            raise DuplicateInstance(duplicate_message(record, existing))

    async def saga_get(self, instance_id: str, *, for_update: bool = False) -> SagaRecord | None:
        rows = await self._rows(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE id = ?", (instance_id,)
        )
        return CODEC.saga(rows[0]) if rows else None

    async def saga_find(
        self, saga: str, correlation: str, *, for_update: bool = False
    ) -> SagaRecord | None:
        rows = await self._rows(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE saga = ? AND correlation = ?",
            (saga, correlation),
        )
        return CODEC.saga(rows[0]) if rows else None

    async def saga_update(self, record: SagaRecord) -> SagaRecord:
        now = utcnow()
        saved = await self._changes(
            "UPDATE saga_instance SET definition_version = ?, state = ?, status = ?, "
            "data = ?, machine = ?, reason = ?, row_version = row_version + 1, "
            "updated_at = ? WHERE id = ? AND row_version = ?",
            (
                record.definition_version,
                record.state,
                record.status,
                dump_json(record.data),
                dump_json(record.machine),
                record.reason,
                time_text(now),
                record.id,
                record.row_version,
            ),
        )
        if not saved:
            actual = await self._value(
                "SELECT row_version FROM saga_instance WHERE id = ?", (record.id,)
            )
            raise ConcurrencyError(stale_message(record, actual))
        return replace(record, row_version=record.row_version + 1, updated_at=now)

    async def saga_list(
        self,
        *,
        saga: str | None = None,
        state: str | None = None,
        status: SagaStatus | None = None,
        limit: int = 100,
    ) -> list[SagaRecord]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("saga", saga), ("state", state), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        rows = await self._rows(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance {condition}"
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [CODEC.saga(row) for row in rows]

    async def saga_count(self) -> list[tuple[str, str, int]]:
        rows = await self._rows(
            "SELECT saga, state, count(*) FROM saga_instance "
            "GROUP BY saga, state ORDER BY saga, state"
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def history_append(self, records: Sequence[HistoryRecord]) -> None:
        if records:
            await self._conn.executemany(
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
        rows = await self._rows(
            f"SELECT {HISTORY_COLUMNS} FROM saga_history WHERE instance_id = ? ORDER BY seq",
            (instance_id,),
        )
        return [CODEC.history(row) for row in rows]

    # -- timers ----------------------------------------------------------------------
    async def timer_arm(self, timer: TimerRecord) -> None:
        await self._conn.execute(
            "INSERT INTO timer (instance_id, saga, name, due_at, payload) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance_id, name) DO UPDATE SET "
            "saga = excluded.saga, due_at = excluded.due_at, payload = excluded.payload",
            (
                timer.instance_id,
                timer.saga,
                timer.name,
                time_text(timer.due_at),
                dump_json(timer.payload),
            ),
        )

    async def timer_cancel(self, instance_id: str, names: Sequence[str] | None = None) -> None:
        if names is None:
            await self._conn.execute("DELETE FROM timer WHERE instance_id = ?", (instance_id,))
        elif names:
            await self._conn.execute(
                "DELETE FROM timer WHERE instance_id = ? "
                "AND name IN (SELECT value FROM json_each(?))",
                (instance_id, dump_json(list(names))),
            )

    async def timers_due(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        rows = await self._rows(
            f"SELECT {TIMER_COLUMNS} FROM timer WHERE due_at <= ? ORDER BY due_at, id LIMIT ?",
            (time_text(now), limit),
        )
        return [CODEC.timer(row) for row in rows]

    async def timer_delete(self, timer_id: int) -> None:
        await self._conn.execute("DELETE FROM timer WHERE id = ?", (timer_id,))

    async def timers_of(self, instance_id: str) -> list[TimerRecord]:
        rows = await self._rows(
            f"SELECT {TIMER_COLUMNS} FROM timer WHERE instance_id = ? ORDER BY due_at, name",
            (instance_id,),
        )
        return [CODEC.timer(row) for row in rows]

    async def next_timer_due(self) -> datetime | None:
        due = await self._value("SELECT min(due_at) FROM timer")
        return None if due is None else parse_time_text(due)

    # -- event store -----------------------------------------------------------------
    async def events_append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int
    ) -> list[StoredEvent]:
        if expected_version < 0:
            raise ValueError(f"expected_version must be 0 or more, not {expected_version}")
        actual = await self.stream_version(stream_id)
        if actual != expected_version:
            raise ConcurrencyError(moved_on_message(stream_id, expected_version, actual))
        if not events:
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
        positions = await self._insert_many(
            "INSERT INTO event (stream_id, version, type, schema_version, payload, metadata, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return [
            StoredEvent(
                stream_id=stream_id,
                version=expected_version + number,
                type=event.type,
                schema_version=event.schema_version,
                payload=event.payload,
                metadata=event.metadata,
                recorded_at=now,
                position=position,
            )
            for number, (event, position) in enumerate(zip(events, positions, strict=True), 1)
        ]

    async def events_read(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> list[StoredEvent]:
        rows = await self._rows(
            f"SELECT {EVENT_COLUMNS} FROM event WHERE stream_id = ? AND version >= ? "
            "AND (? IS NULL OR version <= ?) ORDER BY version",
            (stream_id, from_version, to_version, to_version),
        )
        return [CODEC.event(row) for row in rows]

    async def events_after(self, position: int, limit: int = 500) -> list[StoredEvent]:
        rows = await self._rows(
            f"SELECT {EVENT_COLUMNS} FROM event WHERE position > ? ORDER BY position LIMIT ?",
            (position, limit),
        )
        return [CODEC.event(row) for row in rows]

    async def stream_version(self, stream_id: str) -> int:
        version = await self._value(
            "SELECT max(version) FROM event WHERE stream_id = ?", (stream_id,)
        )
        return int(version or 0)

    async def snapshot_save(self, stream_id: str, version: int, state: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO snapshot (stream_id, version, state) VALUES (?, ?, ?) "
            "ON CONFLICT (stream_id, version) DO UPDATE SET state = excluded.state",
            (stream_id, version, dump_json(state)),
        )

    async def snapshot_load(
        self, stream_id: str, *, at_most: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        rows = await self._rows(
            "SELECT version, state FROM snapshot WHERE stream_id = ? "
            "AND (? IS NULL OR version <= ?) ORDER BY version DESC LIMIT 1",
            (stream_id, at_most, at_most),
        )
        return (rows[0][0], load_json(rows[0][1])) if rows else None

    async def projection_get(self, name: str, *, for_update: bool = False) -> ProjectionRecord:
        rows = await self._rows(
            f"SELECT {PROJECTION_COLUMNS} FROM projection WHERE name = ?", (name,)
        )
        return CODEC.projection(rows[0]) if rows else ProjectionRecord(name=name, position=0)

    async def projection_put(self, record: ProjectionRecord) -> None:
        await self._conn.execute(
            f"INSERT INTO projection ({PROJECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "status = excluded.status, reason = excluded.reason, failures = excluded.failures",
            (record.name, record.position, record.status, record.reason, record.failures),
        )
