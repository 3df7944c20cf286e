"""The PostgreSQL schema and its migration: the same tables as SQLite, in PostgreSQL's
types."""

from __future__ import annotations

from typing import Any

from bus.store.browse_schema import BROWSE_INDEXES, THROUGHPUT_INDEXES
from bus.store.codec import utcnow
from bus.store.migrations import pending_steps

SCHEMA_LOCK = 0x5A6A_5C4E_6D61
"""Advisory lock key that serialises schema creation across processes."""

SCHEMA_TABLE = """
CREATE TABLE sagabus_schema (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL
)"""

STATE_LOCK_CLASS = 0x5A6A
"""First key of the advisory lock that guards a service document which does not exist
yet (the second key is a hash of namespace and key). Part of a migration: never change."""

STATE_FOR_UPDATE = f"""
CREATE FUNCTION sagabus_state_for_update(wanted_namespace text, wanted_key text)
RETURNS json LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    doc json;
BEGIN
    SELECT value INTO doc FROM service_state
    WHERE namespace = wanted_namespace AND key = wanted_key FOR UPDATE;
    IF FOUND THEN
        RETURN doc;
    END IF;
    -- no row to lock: lock the name, then look again; each statement of a volatile
    -- function reads a snapshot of its own, so a creator that committed while this
    -- one waited for the lock is seen
    PERFORM pg_advisory_xact_lock({STATE_LOCK_CLASS},
                                  hashtext(wanted_namespace || chr(31) || wanted_key));
    SELECT value INTO doc FROM service_state
    WHERE namespace = wanted_namespace AND key = wanted_key FOR UPDATE;
    RETURN doc;
END
$$"""
"""A service document read for update in one round trip (`state_get(for_update=True)`)."""

STREAM_CATEGORIES: tuple[str, ...] = (
    "CREATE TABLE stream_category (category text PRIMARY KEY)",
    # a stream's first event names its category (`linked_streams`); inside the insert,
    # so appending costs no round trip more (appends hold the event table's lock)
    """CREATE FUNCTION sagabus_stream_category() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO stream_category (category) VALUES (split_part(NEW.stream_id, '-', 1))
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$""",
    """CREATE TRIGGER event_stream_category AFTER INSERT ON event FOR EACH ROW
        WHEN (NEW.version = 1 AND strpos(NEW.stream_id, '-') > 1)
        EXECUTE FUNCTION sagabus_stream_category()""",
    # the streams written before this step
    """INSERT INTO stream_category (category)
        SELECT DISTINCT split_part(stream_id, '-', 1) FROM event
        WHERE version = 1 AND strpos(stream_id, '-') > 1
        ON CONFLICT DO NOTHING""",
)
"""Every stream category (the part of a stream id before its first '-') in a table of
its own, so a saga's linked streams are found without the aggregates' code."""

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
    THROUGHPUT_INDEXES,
    (STATE_FOR_UPDATE,),
    STREAM_CATEGORIES,
)
"""Schema steps in order; version N is `MIGRATIONS[N - 1]`. Append, never edit."""


async def migrate(conn: Any, schema: str | None) -> None:
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
    for version, statements in pending_steps(current, MIGRATIONS):
        for statement in statements:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO sagabus_schema (version, applied_at) VALUES ($1, $2)", version, utcnow()
        )
