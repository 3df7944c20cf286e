"""The statements that read a batch's rows at once on SQLite find each row through an
index, never by scanning the table: a scan costs nothing at a hundred rows and
everything at a hundred thousand (the row-value `IN` list SQLite's planner scans for
took `state_get_many` to 17 ms a call at 100,000 documents). The plans are SQLite's
own (`EXPLAIN QUERY PLAN`) on the migrated schema, so a planner's change shows here."""

from __future__ import annotations

import sqlite3

import pytest

from bus.store.sqlite import sagas
from bus.store.sqlite.events import MANY as EVENTS_OF_STREAMS
from bus.store.sqlite.schema import migrate
from bus.store.sqlite.service_state import documents_sql

BATCH_READS = {
    "state_get_many": (documents_sql(3), ("stock", "a", "stock", "b", "orders", "o1")),
    "saga_get_many": (sagas.MANY, ('["i1", "i2"]', "order", '["o1"]')),
    "events_read_many": (EVENTS_OF_STREAMS, ('["order-o1", "order-o2"]',)),
}


@pytest.fixture(scope="module")
def conn() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection)
    return connection


def plan(conn: sqlite3.Connection, sql: str, params: tuple[str, ...]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


@pytest.mark.parametrize("read", sorted(BATCH_READS))
def test_a_batch_read_searches_by_index(conn: sqlite3.Connection, read: str) -> None:
    sql, params = BATCH_READS[read]
    steps = plan(conn, sql, params)
    tables = {"service_state", "saga_instance", "event", "s"}
    scans = [step for step in steps if step.split()[:1] == ["SCAN"]
             and step.split()[1] in tables]
    assert not scans, f"{read} scans a table: {steps}"
    assert any(step.startswith("SEARCH") for step in steps), steps


def test_the_row_value_list_it_replaced_is_a_scan(conn: sqlite3.Connection) -> None:
    """Why `documents_sql` joins VALUES: were this ever searched by index, the simpler
    statement would do."""
    steps = plan(
        conn,
        "SELECT value FROM service_state WHERE (namespace, key) IN ((?, ?), (?, ?))",
        ("stock", "a", "stock", "b"),
    )
    assert "SCAN service_state" in steps
