"""The service-state role: documents put, read, replaced, deleted, listed, and locked
for update across two processes."""

from __future__ import annotations

import asyncio

from bus.store.base import Store
from bus.store.conformance.support import StoreCase


class ServiceStateCases(StoreCase):
    """`bus.store.service_state.ServiceState`."""

    async def test_state_documents_are_put_read_replaced_and_deleted(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.state_get("inventory", "sku-1") is None
            await tx.state_put("inventory", "sku-1", {"on_hand": 5, "held": []})
            await tx.state_put("inventory", "sku-1", {"on_hand": 4, "held": ["o1"]})
            await tx.state_put("inventory", "sku-0", {"on_hand": 1})
            await tx.state_put("payments", "sku-1", {"other": True})
        async with store.transaction() as tx:
            assert await tx.state_get("inventory", "sku-1", for_update=True) == {
                "on_hand": 4,
                "held": ["o1"],
            }
            assert await tx.state_list("inventory") == [
                ("sku-0", {"on_hand": 1}),
                ("sku-1", {"on_hand": 4, "held": ["o1"]}),
            ]
            await tx.state_delete("inventory", "sku-1")
            await tx.state_delete("inventory", "missing")
        async with store.transaction() as tx:
            assert await tx.state_get("inventory", "sku-1") is None
            assert await tx.state_list("inventory") == [("sku-0", {"on_hand": 1})]
            assert await tx.state_list("nobody") == []

    async def test_for_update_loses_no_increment_between_two_processes(
        self, store: Store, other_store: Store
    ) -> None:
        async def increment(s: Store) -> None:
            async with s.transaction() as tx:
                doc = await tx.state_get("counters", "hits", for_update=True)
                await tx.state_put("counters", "hits", {"n": (doc or {"n": 0})["n"] + 1})

        await asyncio.gather(*(increment(s) for s in [store, other_store] * 10))
        async with store.transaction() as tx:
            assert await tx.state_get("counters", "hits") == {"n": 20}

    async def test_several_documents_are_read_and_put_in_one_call(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.state_get_many([]) == []
            await tx.state_put_many([])
            await tx.state_put_many([
                ("inventory", "sku-1", {"on_hand": 5}),
                ("payments", "sku-1", {"other": True}),
                ("inventory", "sku-1", {"on_hand": 4}),  # the last value stays
            ])
            await tx.state_put("inventory", "sku-2", {"on_hand": 1})
        async with store.transaction() as tx:
            for for_update in (False, True):
                assert await tx.state_get_many(
                    [("inventory", "sku-2"), ("inventory", "missing"), ("inventory", "sku-1"),
                     ("payments", "sku-1")],
                    for_update=for_update,
                ) == [{"on_hand": 1}, None, {"on_hand": 4}, {"other": True}]
            await tx.state_put_many([("inventory", "sku-2", {"on_hand": 0})])
        async with store.transaction() as tx:
            assert await tx.state_get("inventory", "sku-2") == {"on_hand": 0}

    async def test_state_get_many_for_update_loses_no_increment_between_two_processes(
        self, store: Store, other_store: Store
    ) -> None:
        names = [("counters", "a"), ("counters", "b")]

        async def increment(s: Store) -> None:
            async with s.transaction() as tx:
                docs = await tx.state_get_many(names, for_update=True)
                await tx.state_put_many([
                    (ns, key, {"n": (doc or {"n": 0})["n"] + 1})
                    for (ns, key), doc in zip(names, docs, strict=True)
                ])

        await asyncio.gather(*(increment(s) for s in [store, other_store] * 10))
        async with store.transaction() as tx:
            assert await tx.state_get_many(names) == [{"n": 20}, {"n": 20}]

    async def test_setdefault_puts_a_missing_document_and_keeps_an_existing_one(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            assert await tx.state_setdefault("shipping", "o1", {"n": 1}) == {"n": 1}
            assert await tx.state_setdefault("shipping", "o1", {"n": 2}) == {"n": 1}
        async with store.transaction() as tx:
            assert await tx.state_get("shipping", "o1") == {"n": 1}
            assert await tx.state_setdefault("shipping", "o2", {"n": 3}) == {"n": 3}
            assert await tx.state_list("shipping") == [("o1", {"n": 1}), ("o2", {"n": 3})]

    async def test_setdefault_locks_like_for_update_between_two_processes(
        self, store: Store, other_store: Store
    ) -> None:
        async def increment(s: Store) -> None:
            async with s.transaction() as tx:
                doc = await tx.state_setdefault("counters", "hits", {"n": 0})
                await tx.state_put("counters", "hits", {"n": doc["n"] + 1})

        await asyncio.gather(*(increment(s) for s in [store, other_store] * 10))
        async with store.transaction() as tx:
            assert await tx.state_get("counters", "hits") == {"n": 20}
