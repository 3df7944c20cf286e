"""The SQLite store: the conformance cases of every role (`bus.store.conformance`)
on a file, and what only SQLite has."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import aiosqlite
import pytest

from bus.errors import ConfigurationError
from bus.store import Store, Transaction, open_store
from bus.store.conformance import (
    EventCases,
    MessagingCases,
    SagaCases,
    ServiceStateCases,
    TransactionCases,
)
from bus.store.conformance.support import new_events
from bus.store.sqlite import BUSY_TIMEOUT_MS, MIGRATIONS, SQLiteStore
from bus.store.sqlite.schema import STREAM_CATEGORIES


class TestSQLiteStore(
    TransactionCases, MessagingCases, ServiceStateCases, SagaCases, EventCases
):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'sagabus.db'}"

    async def test_the_file_is_durable_and_shareable(self, store: Store, tmp_path: Path) -> None:
        assert isinstance(store, SQLiteStore)
        async with aiosqlite.connect(tmp_path / "sagabus.db") as other:
            [(mode,)] = await other.execute_fetchall("PRAGMA journal_mode")
        assert mode == "wal"
        conn = store._conn  # the pragmas below hold per connection
        assert conn is not None
        assert conn.fetchall("PRAGMA synchronous") == [(2,)]  # FULL
        assert conn.fetchall("PRAGMA busy_timeout") == [(BUSY_TIMEOUT_MS,)]

    async def test_a_cancelled_unit_of_work_is_rolled_back(self, store: Store) -> None:
        inside = asyncio.Event()

        async def stuck() -> None:
            async with store.transaction() as tx:
                await tx.inbox_add("payments", "m1")
                inside.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(stuck())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "m1") is True

    async def test_a_transaction_inside_another_is_refused_rather_than_hanging(
        self, store: Store
    ) -> None:
        async with store.transaction():
            with pytest.raises(RuntimeError, match="savepoint"):
                async with store.transaction():
                    pass
        async with store.transaction() as tx:
            assert await tx.inbox_add("e", "m") is True

    async def test_a_schema_newer_than_this_code_is_refused(self, store_url: str) -> None:
        async with open_store(store_url) as store:
            assert isinstance(store, SQLiteStore)
            async with aiosqlite.connect(store.path) as db:
                await db.execute(
                    "INSERT INTO sagabus_schema VALUES (?, '')", (len(MIGRATIONS) + 1,)
                )
                await db.commit()
        with pytest.raises(ConfigurationError, match="upgrade sagabus"):
            await open_store(store_url).open()

    async def test_upgrading_records_the_categories_of_the_streams_written_before(
        self, store_url: str
    ) -> None:
        async with open_store(store_url) as store, store.transaction() as tx:
            await tx.events_append("order-o1", new_events("Placed"), 0)
        assert isinstance(store, SQLiteStore)
        categories = MIGRATIONS.index(STREAM_CATEGORIES) + 1
        async with aiosqlite.connect(store.path) as db:  # back to the schema before
            await db.execute("DROP TRIGGER event_stream_category")
            await db.execute("DROP TABLE stream_category")
            # and the steps after it (their triggers go with their views)
            await db.execute("DROP VIEW saga_start")
            await db.execute("DROP VIEW saga_step")
            await db.execute("DELETE FROM sagabus_schema WHERE version >= ?", (categories,))
            await db.commit()
        async with open_store(store_url) as store, store.transaction() as tx:
            assert await tx.linked_streams("o1") == ["order-o1"]
            await tx.events_append("payment-o1", new_events("Paid"), 0)
            assert await tx.linked_streams("o1") == ["order-o1", "payment-o1"]


async def test_an_in_memory_store_works() -> None:
    async with open_store("sqlite:///:memory:") as store, store.transaction() as tx:
        assert await tx.inbox_add("e", "m") is True
        assert await tx.inbox_add("e", "m") is False


async def test_a_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///./data.db"):
        pass
    assert (tmp_path / "data.db").is_file()


@pytest.mark.parametrize("url", ["sqlite://x.db", "sqlite:///", "sqlite:x.db"])
def test_a_malformed_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="sqlite:///"):
        open_store(url)


async def test_a_missing_directory_is_reported_in_one_line(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'no' / 'such.db'}")
    with pytest.raises(ConfigurationError, match=r"cannot open SQLite store .*such\.db"):
        await store.open()


async def test_a_file_that_is_no_database_is_reported_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(ConfigurationError, match="not a database"):
        await open_store(f"sqlite:///{path}").open()


async def test_a_transaction_is_closed_before_its_commit_runs(tmp_path: Path) -> None:
    """Statements run on the loop's thread and COMMIT on the connection's own: a task
    still holding the transaction, woken while the commit is on its way, is refused
    instead of running a statement beside the COMMIT (or inside the next transaction)."""
    async with open_store(f"sqlite:///{tmp_path / 'late.db'}") as store:
        body_ended = asyncio.Event()
        refused: list[str] = []

        async def late(tx: Transaction) -> None:
            await body_ended.wait()
            try:
                await tx.inbox_add("late", "m-1")
            except RuntimeError as exc:
                refused.append(str(exc))

        async with store.transaction() as tx:
            straggler = asyncio.create_task(late(tx))
            await asyncio.sleep(0)  # the straggler waits on the event
            body_ended.set()
        await straggler
        async with store.transaction() as tx:
            claimed_again = await tx.inbox_add("late", "m-1")
    assert refused == ["transaction used after it ended"]
    assert claimed_again  # the straggler's claim never ran


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_loop(tmp_path: Path) -> None:
    """`BEGIN IMMEDIATE` runs inline only if it need not wait: while another connection
    holds the write lock, the loop keeps running and the transaction waits on the
    connection's thread, then goes ahead once the lock is released."""
    path = tmp_path / "shared.db"
    async with open_store(f"sqlite:///{path}") as store:
        assert isinstance(store, SQLiteStore)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")

            async def claim() -> bool:
                async with store.transaction() as tx:
                    return await tx.inbox_add("e", "m-1")

            started = time.monotonic()
            claiming = asyncio.create_task(claim())
            for _ in range(5):  # the loop turns while the claim waits for the lock
                await asyncio.sleep(0)
            assert time.monotonic() - started < 1.0
            assert not claiming.done()
            other.execute("COMMIT")
            assert await asyncio.wait_for(claiming, timeout=10) is True
        finally:
            other.close()
        conn = store._conn
        assert conn is not None
        assert conn.fetchall("PRAGMA busy_timeout") == [(BUSY_TIMEOUT_MS,)]


async def test_a_transaction_begins_after_what_the_connection_thread_still_runs(
    tmp_path: Path,
) -> None:
    """`BEGIN` runs inline only while the connection's thread is idle: after a cancelled
    commit or rollback still on its way there, it queues behind it on the thread."""
    async with open_store(f"sqlite:///{tmp_path / 'queued.db'}") as store:
        assert isinstance(store, SQLiteStore)
        conn = store._conn
        assert conn is not None
        release = threading.Event()
        blocking = asyncio.create_task(conn.run(lambda raw: release.wait(10)))
        await asyncio.sleep(0)  # the thread takes the blocking call

        async def claim() -> bool:
            async with store.transaction() as tx:
                return await tx.inbox_add("e", "m-1")

        claiming = asyncio.create_task(claim())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not conn.in_transaction  # BEGIN did not run beside the thread's call
        release.set()
        assert await asyncio.wait_for(blocking, timeout=10) is True
        assert await asyncio.wait_for(claiming, timeout=10) is True
