"""The SQLite schema and its migration: the same tables as PostgreSQL, in SQLite's
types (times as fixed-width ISO 8601 text)."""

from __future__ import annotations

import sqlite3

from bus.store.browse_schema import BROWSE_INDEXES, THROUGHPUT_INDEXES
from bus.store.codec import time_text, utcnow
from bus.store.migrations import pending_steps
from bus.store.sqlite.steps import MIGRATION as STEP_TRIGGERS

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS sagabus_schema (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)"""

CATEGORY_OF_NEW = "substr(NEW.stream_id, 1, instr(NEW.stream_id, '-') - 1)"
"""The category of the stream a new event row is in: its id up to the first '-'."""

STREAM_CATEGORIES: tuple[str, ...] = (
    "CREATE TABLE stream_category (category TEXT PRIMARY KEY) WITHOUT ROWID",
    # a stream's first event names its category (`linked_streams`); in the insert's own
    # statement, so appending costs no statement more
    f"""CREATE TRIGGER event_stream_category AFTER INSERT ON event
        WHEN NEW.version = 1 AND instr(NEW.stream_id, '-') > 1
        BEGIN
            INSERT OR IGNORE INTO stream_category (category) VALUES ({CATEGORY_OF_NEW});
        END""",
    # the streams written before this step
    """INSERT OR IGNORE INTO stream_category (category)
        SELECT DISTINCT substr(stream_id, 1, instr(stream_id, '-') - 1) FROM event
        WHERE version = 1 AND instr(stream_id, '-') > 1""",
)
"""Every stream category (the part of a stream id before its first '-') in a table of
its own, so a saga's linked streams are found without the aggregates' code."""

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
    THROUGHPUT_INDEXES,
    STREAM_CATEGORIES,
    STEP_TRIGGERS,
)
"""Schema steps in order; version N is `MIGRATIONS[N - 1]`. Append, never edit."""


def migrate(conn: sqlite3.Connection) -> None:
    """Brings the schema to the newest version; `BEGIN IMMEDIATE` makes a second
    process opening the same file wait, then find nothing left to do. Runs on the
    connection's thread (it may wait for that process)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(SCHEMA_TABLE)
        current = conn.execute("SELECT max(version) FROM sagabus_schema").fetchall()[0][0] or 0
        for version, statements in pending_steps(current, MIGRATIONS):
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO sagabus_schema (version, applied_at) VALUES (?, ?)",
                (version, time_text(utcnow())),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
