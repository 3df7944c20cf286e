"""The event role: streams with optimistic versions, one gapless global log in
position order, snapshots and projection checkpoints."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bus.errors import ConcurrencyError
from bus.store.base import ProjectionRecord, Store
from bus.store.conformance.support import StoreCase, new_events


class EventCases(StoreCase):
    """`bus.store.events.Events`: streams, snapshots, projections."""

    async def test_appended_events_are_read_back_by_version_range(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.stream_version("order-1") == 0
            stored = await tx.events_append("order-1", new_events("Placed", "Paid"), 0)
            stored += await tx.events_append("order-1", new_events("Shipped"), 2)
        assert [(e.version, e.type) for e in stored] == [(1, "Placed"), (2, "Paid"), (3, "Shipped")]
        assert stored[0].recorded_at.utcoffset() == timedelta(0)
        async with store.transaction() as tx:
            assert await tx.events_read("order-1") == stored
            assert await tx.events_read("order-1", from_version=2) == stored[1:]
            assert await tx.events_read("order-1", to_version=2) == stored[:2]
            assert await tx.events_read("order-1", from_version=2, to_version=2) == [stored[1]]
            assert await tx.events_read("order-2") == []
            assert await tx.stream_version("order-1") == 3
        assert stored[0].payload == {"i": 0} and stored[0].metadata == {"writer": "w"}
        assert stored[0].schema_version == 1

    async def test_streams_are_read_many_at_once_as_each_one_alone(self, store: Store) -> None:
        async with store.transaction() as tx:
            await tx.events_append("order-b", new_events("Placed", "Paid"), 0)
            await tx.events_append("order-a", new_events("Placed"), 0)
            await tx.events_append("order-c", new_events("Placed"), 0)
        async with store.transaction() as tx:
            many = await tx.events_read_many(["order-b", "nope", "order-a", "order-b"])
            single = {s: await tx.events_read(s) for s in ("order-b", "nope", "order-a")}
            assert await tx.events_read_many([]) == {}
            # in the same transaction, after an append: as the single read would then
            await tx.events_append("order-a", new_events("Paid"), 1)
            after = await tx.events_read_many(["order-a"])
            assert after == {"order-a": await tx.events_read("order-a")}
        assert many == single and list(many) == ["order-b", "nope", "order-a"]
        assert [e.version for e in many["order-b"]] == [1, 2] and many["nope"] == []
        assert [e.type for e in after["order-a"]] == ["Placed", "Paid"]

    async def test_global_positions_increase_across_streams(self, store: Store) -> None:
        async with store.transaction() as tx:
            a = await tx.events_append("a", new_events("A1", "A2"), 0)
            b = await tx.events_append("b", new_events("B1"), 0)
        async with store.transaction() as tx:
            a += await tx.events_append("a", new_events("A3"), 2)
        positions = [e.position for e in a[:2] + b + a[2:]]
        assert positions == sorted(positions) and len(set(positions)) == 4

    async def test_append_at_the_wrong_version_is_refused_and_writes_nothing(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.events_append("order-1", new_events("Placed", "Paid"), 0)
        async with store.transaction() as tx:
            for expected in (0, 1, 3):
                with pytest.raises(ConcurrencyError) as refused:
                    await tx.events_append("order-1", new_events("X", "Y"), expected)
                message = str(refused.value)
                assert "'order-1'" in message and "version 2" in message
                assert f"expected {expected}" in message
            with pytest.raises(ConcurrencyError, match="version 0, not the expected 1"):
                await tx.events_append("new", new_events("X"), 1)
            with pytest.raises(ConcurrencyError):
                await tx.events_append("order-1", [], 1)
            assert await tx.events_append("order-1", [], 2) == []
            await tx.events_append("order-1", new_events("Shipped"), 2)
        async with store.transaction() as tx:
            assert [e.type for e in await tx.events_read("order-1")] == [
                "Placed",
                "Paid",
                "Shipped",
            ]
            assert await tx.stream_version("new") == 0

    async def test_linked_streams_are_the_key_in_every_category_with_streams(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            for stream_id in ("payment-o1", "order-o1", "order-o2", "order-a-b", "o1", "-o1"):
                await tx.events_append(stream_id, new_events("E"), 0)
            await tx.events_append("order-o1", new_events("F"), 1)
            assert await tx.linked_streams("o1") == ["order-o1", "payment-o1"]
        async with store.transaction() as tx:  # and from another transaction
            assert await tx.linked_streams("o2") == ["order-o2"]
            assert await tx.linked_streams("a-b") == ["order-a-b"]
            assert await tx.linked_streams("o3") == []
            assert await tx.linked_streams("b") == []

    async def test_a_negative_expected_version_is_a_programming_error(self, store: Store) -> None:
        async with store.transaction() as tx:
            with pytest.raises(ValueError, match="expected_version"):
                await tx.events_append("s", new_events("X"), -1)

    async def test_of_two_racing_writers_exactly_one_wins(
        self, store: Store, other_store: Store
    ) -> None:
        async def write(s: Store, writer: str) -> str:
            try:
                async with s.transaction() as tx:
                    await tx.events_append("order-1", new_events("A", "B", "C", writer=writer), 0)
            except ConcurrencyError:
                return "lost"
            return "won"

        outcomes = await asyncio.gather(write(store, "one"), write(other_store, "two"))
        assert sorted(outcomes) == ["lost", "won"]
        winner = "one" if outcomes[0] == "won" else "two"
        async with store.transaction() as tx:
            events = await tx.events_read("order-1")
        assert [e.version for e in events] == [1, 2, 3]
        assert {e.metadata["writer"] for e in events} == {winner}

    async def test_contending_writers_leave_a_gapless_stream_in_position_order(
        self, store: Store, other_store: Store
    ) -> None:
        async def writer(s: Store, name: str) -> None:
            for batch in range(3):
                while True:
                    try:
                        async with s.transaction() as tx:
                            version = await tx.stream_version("hot")
                            await tx.events_append(
                                "hot", new_events(f"{name}.{batch}a", f"{name}.{batch}b"), version
                            )
                        break
                    except ConcurrencyError:
                        continue

        await asyncio.gather(*(writer(s, f"w{n}") for n, s in enumerate([store, other_store] * 2)))
        async with store.transaction() as tx:
            events = await tx.events_read("hot")
            log = await tx.events_after(0)
        assert [e.version for e in events] == list(range(1, 25))
        assert [e.position for e in events] == sorted(e.position for e in events)
        assert log == events
        for first, second in zip(events[::2], events[1::2], strict=True):
            assert (first.type[:-1], first.type[-1], second.type[-1]) == (
                second.type[:-1],
                "a",
                "b",
            )

    async def test_the_global_log_pages_in_position_order(self, store: Store) -> None:
        async with store.transaction() as tx:
            for n in range(7):
                await tx.events_append(f"s{n % 3}", new_events(f"E{n}"), n // 3)
        pages: list[list[str]] = []
        position = 0
        while True:
            async with store.transaction() as tx:
                page = await tx.events_after(position, limit=3)
            if not page:
                break
            pages.append([e.type for e in page])
            position = page[-1].position
        assert pages == [["E0", "E1", "E2"], ["E3", "E4", "E5"], ["E6"]]

    async def test_the_newest_snapshot_at_or_below_a_version_is_loaded(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.snapshot_load("order-1") is None
            await tx.snapshot_save("order-1", 2, {"total": 2})
            await tx.snapshot_save("order-1", 5, {"total": 5})
            await tx.snapshot_save("order-1", 5, {"total": 55})
            await tx.snapshot_save("order-2", 9, {"other": True})
        async with store.transaction() as tx:
            assert await tx.snapshot_load("order-1") == (5, {"total": 55})
            assert await tx.snapshot_load("order-1", at_most=4) == (2, {"total": 2})
            assert await tx.snapshot_load("order-1", at_most=5) == (5, {"total": 55})
            assert await tx.snapshot_load("order-1", at_most=1) is None

    async def test_a_projection_checkpoint_starts_at_zero_and_is_kept(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.projection_get("totals") == ProjectionRecord("totals", 0)
            assert await tx.projection_get("totals", for_update=True) == ProjectionRecord(
                "totals", 0
            )
            await tx.projection_put(ProjectionRecord("totals", 17))
        parked = ProjectionRecord("totals", 18, status="parked", reason="bad event", failures=3)
        async with store.transaction() as tx:
            assert await tx.projection_get("totals", for_update=True) == ProjectionRecord(
                "totals", 17
            )
            await tx.projection_put(parked)
        async with store.transaction() as tx:
            assert await tx.projection_get("totals") == parked
            assert await tx.projection_get("other") == ProjectionRecord("other", 0)

    async def test_two_projectors_never_process_the_same_events(
        self, store: Store, other_store: Store
    ) -> None:
        async with store.transaction() as tx:
            for n in range(12):
                await tx.events_append(f"s{n}", new_events("E"), 0)
        seen: list[int] = []

        async def projector(s: Store) -> None:
            while True:
                async with s.transaction() as tx:
                    checkpoint = await tx.projection_get("p", for_update=True)
                    page = await tx.events_after(checkpoint.position, limit=2)
                    if not page:
                        return
                    seen.extend(e.position for e in page)
                    await tx.projection_put(ProjectionRecord("p", page[-1].position))

        await asyncio.gather(projector(store), projector(other_store))
        assert sorted(seen) == seen and len(seen) == 12
