"""The PostgreSQL store: the conformance cases of every role (`bus.store.conformance`)
in a throw-away schema, and what only
several daemons on one database need.

The server is `SAGABUS_TEST_POSTGRES` (see tests/live_services.py);
each test gets its own schema, dropped afterwards. Without a reachable server these
tests are skipped, saying why.
"""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest

from bus.errors import ConcurrencyError, ConfigurationError
from bus.store import Store, Transaction, open_store
from bus.store.base import NewEvent
from bus.store.conformance import (
    EventCases,
    MessagingCases,
    SagaCases,
    ServiceStateCases,
    TransactionCases,
)
from bus.store.conformance.support import at, envelope, new_events, saga, step, timer
from bus.store.postgres import MIGRATIONS, PostgresStore, PostgresTransaction, parse_url


async def wait_until_blocked(server: asyncpg.Connection, holder: Transaction) -> None:
    """Returns once some session waits for a lock that `holder` holds (other sessions'
    waits on a shared server do not count)."""
    assert isinstance(holder, PostgresTransaction)
    pid = holder._conn.get_server_pid()
    async with asyncio.timeout(10):
        while not await server.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid
        ):
            pass


@pytest.mark.integration
class TestPostgresStore(TransactionCases, MessagingCases, ServiceStateCases, SagaCases, EventCases):
    @pytest.fixture
    def store_url(self, schema_url: str) -> str:
        return schema_url

    async def test_open_schedulers_take_disjoint_timers(
        self, store: Store, other_store: Store
    ) -> None:
        async with store.transaction() as tx:
            for n in range(6):
                await tx.timer_arm(timer(f"t{n}", at(n), instance_id=f"i{n}"))
        async with store.transaction() as first:
            mine = await first.timers_due(at(10), limit=4)
            async with other_store.transaction() as second:
                theirs = await second.timers_due(at(10))
        assert [t.name for t in mine] == ["t0", "t1", "t2", "t3"]
        assert [t.name for t in theirs] == ["t4", "t5"]

    async def test_open_relays_take_disjoint_outbox_rows(
        self, store: Store, other_store: Store
    ) -> None:
        async with store.transaction() as tx:
            ids = await tx.outbox_add([envelope(n) for n in range(5)])
        async with store.transaction() as first:
            mine = await first.outbox_pending(limit=2)
            async with other_store.transaction() as second:
                theirs = await second.outbox_pending()
        assert [i for i, _ in mine] == ids[:2]
        assert [i for i, _ in theirs] == ids[2:]

    async def test_for_update_on_a_missing_document_holds_back_a_second_creator(
        self, store: Store, other_store: Store, server: asyncpg.Connection
    ) -> None:
        async def increment() -> None:
            async with other_store.transaction() as tx:
                doc = await tx.state_get("counters", "hits", for_update=True)
                await tx.state_put("counters", "hits", {"n": (doc or {"n": 0})["n"] + 1})

        async with store.transaction() as tx:
            assert await tx.state_get("counters", "hits", for_update=True) is None
            second = asyncio.create_task(increment())
            await wait_until_blocked(server, tx)
            await tx.state_put("counters", "hits", {"n": 1})
        await second
        async with store.transaction() as tx:
            assert await tx.state_get("counters", "hits") == {"n": 2}

    async def test_for_update_on_an_instance_holds_back_a_second_reader(
        self, store: Store, other_store: Store, server: asyncpg.Connection
    ) -> None:
        async with store.transaction() as tx:
            await tx.saga_insert(saga())

        async def read() -> str | None:
            async with other_store.transaction() as tx:
                record = await tx.saga_get("inst-order-1", for_update=True)
                return record.state if record else None

        async with store.transaction() as tx:
            record = await tx.saga_find("order_processing", "order-1", for_update=True)
            assert record is not None
            reader = asyncio.create_task(read())
            await wait_until_blocked(server, tx)
            record.state = "paid"
            await tx.saga_update(record)
        assert await reader == "paid"

    async def test_an_append_waits_for_an_earlier_one_to_commit(
        self, store: Store, other_store: Store, server: asyncpg.Connection
    ) -> None:
        async def append_elsewhere() -> int:
            async with other_store.transaction() as tx:
                [event] = await tx.events_append("b", [envelope_event()], 0)
                return event.position

        async with store.transaction() as tx:
            [first] = await tx.events_append("a", [envelope_event()], 0)
            later = asyncio.create_task(append_elsewhere())
            await wait_until_blocked(server, tx)
            async with other_store.transaction() as reader:
                assert await reader.events_after(0) == []
        assert await later > first.position
        async with store.transaction() as reader:
            assert [e.stream_id for e in await reader.events_after(0)] == ["a", "b"]

    async def test_the_event_table_lock_is_taken_again_after_a_rolled_back_savepoint(
        self, store: Store, server: asyncpg.Connection
    ) -> None:
        async def holds_the_table_lock(tx: Transaction) -> bool:
            assert isinstance(tx, PostgresTransaction)
            return bool(await server.fetchval(
                "SELECT count(*) FROM pg_locks WHERE pid = $1 AND mode = 'ExclusiveLock' "
                "AND relation = (SELECT oid FROM pg_class WHERE relname = 'event' "
                "AND relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $2))",
                tx._conn.get_server_pid(), getattr(store, "schema", None),
            ))

        async with store.transaction() as tx:
            with pytest.raises(RuntimeError, match="undo"):
                async with tx.savepoint():
                    await tx.events_append("a", [envelope_event()], 0)
                    assert await holds_the_table_lock(tx)
                    raise RuntimeError("undo")
            assert not await holds_the_table_lock(tx)  # gone with the savepoint
            [first] = await tx.events_append("a", [envelope_event()], 0)
            assert await holds_the_table_lock(tx)
            [second] = await tx.events_append("c", [envelope_event()], 0)
        assert first.position < second.position

    async def test_interleaved_history_appends_surface_as_a_concurrency_error(
        self, store: Store, other_store: Store, server: asyncpg.Connection
    ) -> None:
        async def append() -> None:
            async with other_store.transaction() as tx:
                await tx.history_append([step("a", "s2")])

        async with store.transaction() as tx:
            await tx.history_append([step("a", "s1")])
            second = asyncio.create_task(append())
            await wait_until_blocked(server, tx)
        with pytest.raises(ConcurrencyError, match="history of saga instance"):
            await second

    async def test_tables_live_in_the_named_schema_only(
        self, store: Store, store_url: str, server: asyncpg.Connection
    ) -> None:
        assert isinstance(store, PostgresStore) and store.schema is not None
        tables = await server.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            store.schema,
        )
        assert {"inbox", "outbox", "saga_instance", "event", "sagabus_schema"} <= {
            t[0] for t in tables
        }
        async with store.transaction() as tx:
            await tx.inbox_add("e", "m")
        neighbour = store_url.replace(store.schema, f"{store.schema}_n")
        try:
            async with open_store(neighbour) as other, other.transaction() as tx:
                assert await tx.inbox_add("e", "m") is True
        finally:
            await server.execute(f'DROP SCHEMA IF EXISTS "{store.schema}_n" CASCADE')

    async def test_a_schema_newer_than_this_code_is_refused(
        self, store: Store, store_url: str, server: asyncpg.Connection
    ) -> None:
        assert isinstance(store, PostgresStore)
        await server.execute(
            f'INSERT INTO "{store.schema}".sagabus_schema VALUES ($1, now())',
            len(MIGRATIONS) + 1,
        )
        with pytest.raises(ConfigurationError, match="upgrade sagabus"):
            await open_store(store_url).open()

    async def test_upgrading_records_the_categories_of_the_streams_written_before(
        self, store: Store, store_url: str, server: asyncpg.Connection
    ) -> None:
        async with store.transaction() as tx:
            await tx.events_append("order-o1", new_events("Placed"), 0)
        assert isinstance(store, PostgresStore)
        schema = f'"{store.schema}"'
        await server.execute(  # back to the schema before
            f"DROP TRIGGER event_stream_category ON {schema}.event;"
            f"DROP FUNCTION {schema}.sagabus_stream_category();"
            f"DROP TABLE {schema}.stream_category;"
            f"DELETE FROM {schema}.sagabus_schema WHERE version = {len(MIGRATIONS)}"
        )
        async with open_store(store_url) as upgraded, upgraded.transaction() as tx:
            assert await tx.linked_streams("o1") == ["order-o1"]
            await tx.events_append("payment-o1", new_events("Paid"), 0)
            assert await tx.linked_streams("o1") == ["order-o1", "payment-o1"]


def envelope_event() -> NewEvent:
    return NewEvent(type="E", payload={})


def test_schema_and_pool_size_are_taken_out_of_the_dsn() -> None:
    dsn, schema, size = parse_url(
        "postgresql://u:p@db:5433/app?schema=tenant_1&connect_timeout=5&pool_size=3"
    )
    assert (dsn, schema, size) == ("postgresql://u:p@db:5433/app?connect_timeout=5", "tenant_1", 3)
    assert parse_url("postgresql://db/app") == ("postgresql://db/app", None, None)
    assert PostgresStore("postgresql://db/app?pool_size=3").pool_size == 3
    assert PostgresStore("postgresql://db/app").pool_size == 10


@pytest.mark.parametrize(
    "query", ["schema=1abc", "schema=a;b", "schema=-a", "schema=", "pool_size=0"]
)
def test_a_bad_url_option_is_a_configuration_error(query: str) -> None:
    with pytest.raises(ConfigurationError, match="store URL"):
        open_store(f"postgresql://db/app?{query}")


async def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    store = open_store("postgresql://sagabus:s3cret@127.0.0.1:1/app")
    with pytest.raises(ConfigurationError, match="cannot connect") as refused:
        await store.open()
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)
