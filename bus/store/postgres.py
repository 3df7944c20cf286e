"""The PostgreSQL store: for several daemons on several machines sharing one database.

An asyncpg pool (`pool_size` connections, default `DEFAULT_POOL_SIZE`) at READ COMMITTED.
The URL may carry `?schema=NAME`, which is taken out of the DSN, created when missing
and put on the search path, so deployments (and tests) can share one database; and
`?pool_size=N`.

What several daemons rely on: `timers_due` and `outbox_pending` lock what they return
and skip rows another transaction holds (`FOR UPDATE SKIP LOCKED`), so a timer fires
once and a row is relayed by one relay at a time; `for_update` locks with
`SELECT ... FOR UPDATE`, and also locks a service document that does not exist yet.
Appending events takes an EXCLUSIVE lock on the event table until commit, so global
positions become visible in order and a projection that follows the log never skips
an event committed late.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped, unused-ignore]

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
    stale_message,
    utc,
    utcnow,
)
from bus.wire.envelope import Envelope

DEFAULT_POOL_SIZE = 10
"""Connections per store unless the URL (`?pool_size=`) or the caller says otherwise."""

SCHEMA_LOCK = 0x5A6A_5C4E_6D61
"""Advisory lock key that serialises schema creation across processes."""

STATE_LOCK_CLASS = 0x5A6A
"""First key of the advisory lock that guards a service document which does not exist
yet (the second key is a hash of namespace and key)."""

CODEC = RowCodec(time_out=utc, time_in=utc)

SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

SCHEMA_TABLE = """
CREATE TABLE sagabus_schema (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL
)"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE inbox (
            endpoint text NOT NULL,
            message_id text NOT NULL,
            received_at timestamptz NOT NULL,
            PRIMARY KEY (endpoint, message_id)
        )""",
        "CREATE INDEX inbox_received_at ON inbox (received_at)",
        """CREATE TABLE outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            message_id text NOT NULL,
            kind text NOT NULL,
            type text NOT NULL,
            payload json NOT NULL,
            correlation_id text,
            causation_id text,
            timestamp timestamptz NOT NULL,
            version integer NOT NULL,
            traceparent text,
            headers json NOT NULL,
            created_at timestamptz NOT NULL,
            sent_at timestamptz
        )""",
        "CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL",
        """CREATE TABLE service_state (
            namespace text NOT NULL,
            key text NOT NULL,
            value json NOT NULL,
            PRIMARY KEY (namespace, key)
        )""",
        """CREATE TABLE saga_instance (
            id text PRIMARY KEY,
            saga text NOT NULL,
            definition_version integer NOT NULL,
            correlation text NOT NULL,
            state text NOT NULL,
            status text NOT NULL
                CHECK (status IN ('running', 'completed', 'failed', 'parked')),
            data json NOT NULL,
            machine json NOT NULL,
            reason text,
            row_version integer NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (saga, correlation)
        )""",
        "CREATE INDEX saga_instance_saga_state ON saga_instance (saga, state, created_at)",
        "CREATE INDEX saga_instance_status ON saga_instance (status, created_at)",
        "CREATE INDEX saga_instance_created_at ON saga_instance (created_at)",
        """CREATE TABLE saga_history (
            instance_id text NOT NULL,
            seq integer NOT NULL,
            at timestamptz NOT NULL,
            input text NOT NULL,
            message_id text,
            from_state text,
            to_state text NOT NULL,
            effects json NOT NULL,
            PRIMARY KEY (instance_id, seq)
        )""",
        """CREATE TABLE timer (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            instance_id text NOT NULL,
            saga text NOT NULL,
            name text NOT NULL,
            due_at timestamptz NOT NULL,
            payload json NOT NULL,
            UNIQUE (instance_id, name)
        )""",
        "CREATE INDEX timer_due_at ON timer (due_at)",
        """CREATE TABLE event (
            position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            stream_id text NOT NULL,
            version integer NOT NULL,
            type text NOT NULL,
            schema_version integer NOT NULL,
            payload json NOT NULL,
            metadata json NOT NULL,
            recorded_at timestamptz NOT NULL,
            UNIQUE (stream_id, version)
        )""",
        """CREATE TABLE snapshot (
            stream_id text NOT NULL,
            version integer NOT NULL,
            state json NOT NULL,
            PRIMARY KEY (stream_id, version)
        )""",
        """CREATE TABLE projection (
            name text PRIMARY KEY,
            position bigint NOT NULL,
            status text NOT NULL CHECK (status IN ('running', 'parked')),
            reason text,
            failures integer NOT NULL
        )""",
    ),
    BROWSE_INDEXES,
)
"""Schema steps in order; version N is `MIGRATIONS[N - 1]`. Append, never edit."""

INSERT_OUTBOX = f"""
INSERT INTO outbox ({ENVELOPE_COLUMNS}, created_at)
SELECT m, k, t, p::json, c, ca, ts, v, tp, h::json, $11
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[], $8::int[], $9::text[], $10::text[])
     WITH ORDINALITY AS r(m, k, t, p, c, ca, ts, v, tp, h, n)
ORDER BY n
RETURNING id"""

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

INSERT_EVENTS = """
INSERT INTO event (stream_id, version, type, schema_version, payload, metadata, recorded_at)
SELECT $1, $2::int + r.n::int, r.type, r.schema_version, r.payload::json, r.metadata::json, $3
FROM unnest($4::text[], $5::int[], $6::text[], $7::text[])
     WITH ORDINALITY AS r(type, schema_version, payload, metadata, n)
WHERE (SELECT coalesce(max(version), 0) FROM event WHERE stream_id = $1) = $2
ORDER BY r.n
RETURNING position"""


def parse_url(url: str) -> tuple[str, str | None, int | None]:
    """The DSN for asyncpg, the schema and the pool size the URL names."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {name: value for name, value in query if name in ("schema", "pool_size")}
    dsn = urlunsplit(
        parts._replace(
            query=urlencode([(n, v) for n, v in query if n not in ("schema", "pool_size")])
        )
    )
    schema = options.get("schema")
    if schema is not None and not SCHEMA_NAME.fullmatch(schema):
        raise ConfigurationError(
            f"bad schema {schema!r} in the store URL: use letters, digits and _ "
            "(at most 63), not starting with a digit"
        )
    size = options.get("pool_size")
    if size is not None and not (size.isdigit() and int(size) > 0):
        raise ConfigurationError(f"bad pool_size {size!r} in the store URL: use a number > 0")
    return dsn, schema, None if size is None else int(size)


def redact(url: str) -> str:
    """`url` without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore(Store):
    """A store in one PostgreSQL database (see the module docstring for its guarantees)."""

    def __init__(self, url: str, *, pool_size: int | None = None) -> None:
        self.url = url
        self._dsn, self.schema, url_pool_size = parse_url(url)
        self.pool_size = pool_size or url_pool_size or DEFAULT_POOL_SIZE
        self._pool: Any = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"application_name": "sagabus"}
        if self.schema is not None:
            settings["search_path"] = f'"{self.schema}"'
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self.pool_size, server_settings=settings
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ConfigurationError(
                f"cannot connect to PostgreSQL store {redact(self.url)}: {exc}"
            ) from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await _migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self._pool is None:
            raise RuntimeError(f"store {redact(self.url)} is not open: await store.open() first")
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn)


async def _migrate(conn: Any, schema: str | None) -> None:
    """Brings the schema to the newest version inside the caller's transaction; the
    advisory lock makes a second process opening the same store wait, then find
    nothing left to do."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
    # look before creating: CREATE ... IF NOT EXISTS still wants the CREATE privilege,
    # which a runtime role on a provisioned schema need not have
    exists = "SELECT true FROM pg_namespace WHERE nspname = $1"
    if schema is not None and not await conn.fetchval(exists, schema):
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    if await conn.fetchval("SELECT to_regclass('sagabus_schema')") is None:
        await conn.execute(SCHEMA_TABLE)
    current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM sagabus_schema")
    if current > len(MIGRATIONS):
        raise ConfigurationError(
            f"the store's schema is at version {current}, newer than this sagabus "
            f"knows ({len(MIGRATIONS)}): upgrade sagabus"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        for statement in MIGRATIONS[version - 1]:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO sagabus_schema (version, applied_at) VALUES ($1, $2)", version, utcnow()
        )


def _changed(status: str) -> int:
    """Rows a command touched, from its status tag (`INSERT 0 1`, `UPDATE 3`)."""
    return int(status.rsplit(" ", 1)[1])


class PostgresTransaction(Transaction):
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield

    async def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        numbered = iter(range(1, len(params) + 1))
        query = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)
        return list(await self._conn.fetch(query, *params))

    # -- inbox ---------------------------------------------------------------------
    async def inbox_add(self, endpoint: str, message_id: str) -> bool:
        status = await self._conn.execute(
            "INSERT INTO inbox (endpoint, message_id, received_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            endpoint,
            message_id,
            utcnow(),
        )
        return _changed(status) == 1

    async def inbox_purge(self, older_than: datetime) -> int:
        return _changed(
            await self._conn.execute("DELETE FROM inbox WHERE received_at < $1", utc(older_than))
        )

    # -- outbox --------------------------------------------------------------------
    async def outbox_add(self, envelopes: Sequence[Envelope]) -> list[int]:
        if not envelopes:
            return []
        columns = [list(c) for c in zip(*map(CODEC.envelope_params, envelopes), strict=True)]
        rows = await self._conn.fetch(INSERT_OUTBOX, *columns, utcnow())
        # identity values are drawn in row order, so sorted ids are in envelope order
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

    async def outbox_purge(self, sent_before: datetime) -> int:
        return _changed(
            await self._conn.execute("DELETE FROM outbox WHERE sent_at < $1", utc(sent_before))
        )

    # -- services' own state -------------------------------------------------------
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        select = "SELECT value FROM service_state WHERE namespace = $1 AND key = $2"
        if not for_update:
            value = await self._conn.fetchval(select, namespace, key)
        else:
            value = await self._conn.fetchval(f"{select} FOR UPDATE", namespace, key)
            if value is None:
                # no row to lock: lock the name, then look again (a concurrent
                # creator has committed by the time the lock is ours)
                await self._conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2 || chr(31) || $3))",
                    STATE_LOCK_CLASS,
                    namespace,
                    key,
                )
                value = await self._conn.fetchval(f"{select} FOR UPDATE", namespace, key)
        return None if value is None else dict(load_json(value))

    async def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO service_state (namespace, key, value) VALUES ($1, $2, $3) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            namespace,
            key,
            dump_json(value),
        )

    async def state_delete(self, namespace: str, key: str) -> None:
        await self._conn.execute(
            "DELETE FROM service_state WHERE namespace = $1 AND key = $2", namespace, key
        )

    async def state_list(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        rows = await self._conn.fetch(
            "SELECT key, value FROM service_state WHERE namespace = $1 ORDER BY key", namespace
        )
        return [(row[0], load_json(row[1])) for row in rows]

    # -- saga instances --------------------------------------------------------------
    async def saga_insert(self, record: SagaRecord) -> None:
        # ON CONFLICT rather than a caught unique violation: the transaction stays usable
        status = await self._conn.execute(
            f"INSERT INTO saga_instance ({SAGA_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
            *CODEC.saga_params(record, utcnow()),
        )
        if not _changed(status):
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

    async def saga_update(self, record: SagaRecord) -> SagaRecord:
        now = utcnow()
        status = await self._conn.execute(
            "UPDATE saga_instance SET definition_version = $1, state = $2, status = $3, "
            "data = $4, machine = $5, reason = $6, row_version = row_version + 1, "
            "updated_at = $7 WHERE id = $8 AND row_version = $9",
            record.definition_version,
            record.state,
            record.status,
            dump_json(record.data),
            dump_json(record.machine),
            record.reason,
            now,
            record.id,
            record.row_version,
        )
        if not _changed(status):
            actual = await self._conn.fetchval(
                "SELECT row_version FROM saga_instance WHERE id = $1", record.id
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
                params.append(value)
                where.append(f"{column} = ${len(params)}")
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        rows = await self._conn.fetch(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance {condition}"
            f"ORDER BY created_at DESC, id DESC LIMIT ${len(params) + 1}",
            *params,
            limit,
        )
        return [CODEC.saga(row) for row in rows]

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
            instances = sorted({r.instance_id for r in records})
            raise ConcurrencyError(
                f"history of saga instance(s) {', '.join(instances)} was appended to "
                "concurrently: someone else saved it first"
            ) from None

    async def history(self, instance_id: str) -> list[HistoryRecord]:
        rows = await self._conn.fetch(
            f"SELECT {HISTORY_COLUMNS} FROM saga_history WHERE instance_id = $1 ORDER BY seq",
            instance_id,
        )
        return [CODEC.history(row) for row in rows]

    # -- timers ----------------------------------------------------------------------
    async def timer_arm(self, timer: TimerRecord) -> None:
        await self._conn.execute(
            "INSERT INTO timer (instance_id, saga, name, due_at, payload) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance_id, name) DO UPDATE SET "
            "saga = excluded.saga, due_at = excluded.due_at, payload = excluded.payload",
            timer.instance_id,
            timer.saga,
            timer.name,
            utc(timer.due_at),
            dump_json(timer.payload),
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

    # -- event store -----------------------------------------------------------------
    async def events_append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int
    ) -> list[StoredEvent]:
        if expected_version < 0:
            raise ValueError(f"expected_version must be 0 or more, not {expected_version}")
        if not events:
            actual = await self.stream_version(stream_id)
            if actual != expected_version:
                raise ConcurrencyError(moved_on_message(stream_id, expected_version, actual))
            return []
        # held until commit: positions are handed out in commit order (module docstring)
        await self._conn.execute("LOCK TABLE event IN EXCLUSIVE MODE")
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
        rows = await self._conn.fetch(
            f"SELECT {EVENT_COLUMNS} FROM event WHERE stream_id = $1 AND version >= $2 "
            "AND ($3::int IS NULL OR version <= $3) ORDER BY version",
            stream_id,
            from_version,
            to_version,
        )
        return [CODEC.event(row) for row in rows]

    async def events_after(self, position: int, limit: int = 500) -> list[StoredEvent]:
        rows = await self._conn.fetch(
            f"SELECT {EVENT_COLUMNS} FROM event WHERE position > $1 ORDER BY position LIMIT $2",
            position,
            limit,
        )
        return [CODEC.event(row) for row in rows]

    async def stream_version(self, stream_id: str) -> int:
        version: int = await self._conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM event WHERE stream_id = $1", stream_id
        )
        return version

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
