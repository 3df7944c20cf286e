"""Namespaces: two buses with their own namespaces share one database, and neither sees
nor collides with the other in any role; the default namespace is the URL itself."""

from __future__ import annotations

import pytest

from bus.errors import ConfigurationError
from bus.store.base import ProjectionRecord, Store
from bus.store.conformance.support import StoreCase, at, envelope, new_events, saga, timer
from bus.store.namespaces import DEFAULT_NAMESPACE


async def fill(store: Store, tag: str) -> None:
    """One of everything, marked with `tag`, under the ids every namespace uses."""
    async with store.transaction() as tx:
        await tx.saga_insert(saga("order-1", data={"tag": tag}))
        await tx.inbox_add("payments", "m1")
        await tx.outbox_add([envelope(payload={"tag": tag})])
        await tx.state_put("inventory", "sku-1", {"tag": tag})
        await tx.timer_arm(timer("payment_timeout", at(10), instance_id="inst-order-1"))
        await tx.events_append("order-1", new_events(tag), 0)
        await tx.snapshot_save("order-1", 1, {"tag": tag})
        await tx.projection_put(ProjectionRecord(tag, 1))


class NamespaceCases(StoreCase):
    """`bus.store.namespaces`: a namespace's data is its own."""

    async def test_the_same_correlation_in_two_namespaces_does_not_collide(
        self, store_url: str
    ) -> None:
        async with (
            self.open_backend(store_url, "blue") as blue,
            self.open_backend(store_url, "green") as green,
        ):
            await fill(blue, "blue")
            await fill(green, "green")
            for store, tag in ((blue, "blue"), (green, "green")):
                async with store.transaction() as tx:
                    found = await tx.saga_find("order_processing", "order-1")
                    assert found is not None and found.data == {"tag": tag}
                    got = await tx.saga_get("inst-order-1")
                    assert got is not None and got.data == {"tag": tag}
                    assert [e.type for e in await tx.events_read("order-1")] == [tag]

    async def test_each_namespace_lists_only_its_own_data(self, store_url: str) -> None:
        async with (
            self.open_backend(store_url, "blue") as blue,
            self.open_backend(store_url, "green") as green,
        ):
            await fill(blue, "blue")
            async with blue.transaction() as tx:
                await tx.saga_insert(saga("order-2"))
            async with green.transaction() as tx:
                assert await tx.saga_list() == []
                assert await tx.saga_count() == []
                assert await tx.inbox_add("payments", "m1") is True
                assert await tx.outbox_pending() == []
                assert await tx.outbox_backlog() == 0
                assert await tx.state_list("inventory") == []
                assert await tx.timers_due(at(100)) == []
                assert await tx.next_timer_due() is None
                assert await tx.events_after(0) == []
                assert await tx.snapshot_load("order-1") is None
                assert await tx.projection_get("blue") == ProjectionRecord("blue", 0)
            async with blue.transaction() as tx:
                listed = [r.correlation for r in await tx.saga_list()]
                assert sorted(listed) == ["order-1", "order-2"]
                assert [e.payload["tag"] for _, e in await tx.outbox_pending()] == ["blue"]

    async def test_the_default_namespace_is_where_the_url_points(
        self, store: Store, store_url: str
    ) -> None:
        async with store.transaction() as tx:
            await tx.saga_insert(saga("order-1"))
        default = self.open_backend(store_url, DEFAULT_NAMESPACE)
        async with default, default.transaction() as tx:
            assert await tx.saga_find("order_processing", "order-1") is not None
        async with self.open_backend(store_url, "other") as other, other.transaction() as tx:
            assert await tx.saga_find("order_processing", "order-1") is None

    async def test_a_namespace_keeps_its_data_across_reopening(self, store_url: str) -> None:
        async with self.open_backend(store_url, "blue") as blue:
            await fill(blue, "blue")
        async with self.open_backend(store_url, "blue") as again, again.transaction() as tx:
            assert await tx.saga_find("order_processing", "order-1") is not None
            assert await tx.inbox_add("payments", "m1") is False

    @pytest.mark.parametrize("namespace", ["a/b", "../up", "-x", "", "a b"])
    async def test_a_bad_namespace_is_a_configuration_error(
        self, store_url: str, namespace: str
    ) -> None:
        with pytest.raises(ConfigurationError, match="namespace"):
            self.open_backend(store_url, namespace)
