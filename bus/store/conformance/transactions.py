"""Units of work and the schema: commit, rollback, savepoints (group commit), opening,
reopening and creating the schema from two processes at once."""

from __future__ import annotations

import asyncio

import pytest

from bus.store.base import Store
from bus.store.conformance.support import Boom, StoreCase, envelope, new_events, saga


class TransactionCases(StoreCase):
    """What `Store` and `Transaction` themselves promise, beyond any one role."""

    async def test_leaving_a_transaction_by_exception_undoes_all_of_it(self, store: Store) -> None:
        with pytest.raises(Boom):
            async with store.transaction() as tx:
                await tx.inbox_add("payments", "m1")
                await tx.state_put("payments", "acct", {"balance": 1})
                raise Boom
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "m1") is True
            assert await tx.state_get("payments", "acct") is None

    async def test_savepoint_rollback_undoes_only_its_own_inbox_row(self, store: Store) -> None:
        async with store.transaction() as tx:
            await tx.inbox_add("payments", "kept")
            with pytest.raises(Boom):
                async with tx.savepoint():
                    assert await tx.inbox_add("payments", "undone") is True
                    raise Boom
            async with tx.savepoint():
                assert await tx.inbox_add("payments", "second") is True
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "kept") is False
            assert await tx.inbox_add("payments", "second") is False
            assert await tx.inbox_add("payments", "undone") is True

    async def test_nested_savepoints_roll_back_innermost_only(self, store: Store) -> None:
        async with store.transaction() as tx:
            async with tx.savepoint():
                await tx.state_put("s", "outer", {"v": 1})
                with pytest.raises(Boom):
                    async with tx.savepoint():
                        await tx.state_put("s", "inner", {"v": 2})
                        raise Boom
            assert await tx.state_list("s") == [("outer", {"v": 1})]

    async def test_group_commit_keeps_good_deliveries_and_drops_the_failed_one(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            for n in range(5):
                try:
                    async with tx.savepoint():
                        await tx.inbox_add("orders", f"m{n}")
                        await tx.outbox_add([envelope(n)])
                        if n == 2:
                            raise Boom
                except Boom:
                    pass
        async with store.transaction() as tx:
            pending = await tx.outbox_pending()
            assert [e.payload["n"] for _, e in pending] == [0, 1, 3, 4]
            assert await tx.inbox_add("orders", "m2") is True

    async def test_opening_twice_and_reopening_keeps_schema_and_data(
        self, store: Store, store_url: str
    ) -> None:
        await store.open()
        async with store.transaction() as tx:
            await tx.saga_insert(saga())
            await tx.events_append("s", new_events("E"), 0)
        await store.close()
        await store.close()
        async with self.open_backend(store_url) as reopened, reopened.transaction() as tx:
            assert await tx.saga_get("inst-order-1") is not None
            assert await tx.stream_version("s") == 1

    async def test_two_processes_creating_the_schema_at_once_both_succeed(
        self, store_url: str
    ) -> None:
        first, second = self.open_backend(store_url), self.open_backend(store_url)
        await asyncio.gather(first.open(), second.open())
        try:
            async with first.transaction() as tx:
                await tx.inbox_add("e", "m")
            async with second.transaction() as tx:
                assert await tx.inbox_add("e", "m") is False
        finally:
            await first.close()
            await second.close()

    async def test_a_transaction_needs_an_open_store(self, store_url: str) -> None:
        with pytest.raises(RuntimeError, match="not open"):
            async with self.open_backend(store_url).transaction():
                pass
