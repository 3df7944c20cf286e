"""What the browsing queries (`bus.store.browse`) must do, written once for every
backend. A backend's module subclasses `BrowseConformance` and provides `store_url`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bus.store import open_store
from bus.store.base import SagaRecord, SagaStatus, Store
from bus.store.browse import (
    BadCursor,
    CensusRow,
    SagaFilter,
    decode_cursor,
    encode_cursor,
    matching_count,
    saga_census,
    saga_names,
    saga_page,
)
from bus.store.throughput import Throughput, saga_throughput

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def instance(
    n: int,
    *,
    saga: str = "order",
    state: str = "awaiting_payment",
    status: SagaStatus = "running",
    version: int = 1,
    second: int | None = None,
) -> SagaRecord:
    created = T0 + timedelta(seconds=n if second is None else second)
    return SagaRecord(
        id=f"{saga}-{n:04d}",
        saga=saga,
        definition_version=version,
        correlation=f"c-{n}",
        state=state,
        status=status,
        data={"n": n},
        created_at=created,
        updated_at=created,
    )


async def insert(store: Store, *records: SagaRecord) -> None:
    async with store.transaction() as tx:
        for record in records:
            await tx.saga_insert(record)


async def every_page(store: Store, where: SagaFilter, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        async with store.transaction() as tx:
            page = await saga_page(tx, where, after=cursor, limit=limit)
        pages.append([s.id for s in page.instances])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


class BrowseConformance:
    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[Store]:
        async with open_store(store_url) as store:
            yield store

    async def test_pages_walk_every_instance_once_newest_first(self, store: Store) -> None:
        await insert(store, *(instance(n) for n in range(7)))
        pages = await every_page(store, SagaFilter(), limit=3)
        assert pages == [
            ["order-0006", "order-0005", "order-0004"],
            ["order-0003", "order-0002", "order-0001"],
            ["order-0000"],
        ]

    async def test_instances_created_in_the_same_microsecond_are_neither_lost_nor_repeated(
        self, store: Store
    ) -> None:
        await insert(store, *(instance(n, second=5) for n in range(5)), instance(9, second=1))
        pages = await every_page(store, SagaFilter(), limit=2)
        assert [i for page in pages for i in page] == [
            "order-0004",
            "order-0003",
            "order-0002",
            "order-0001",
            "order-0000",
            "order-0009",
        ]

    async def test_a_page_that_fills_exactly_has_no_next_cursor(self, store: Store) -> None:
        await insert(store, *(instance(n) for n in range(4)))
        assert await every_page(store, SagaFilter(), limit=4) == [
            ["order-0003", "order-0002", "order-0001", "order-0000"]
        ]

    async def test_an_empty_store_has_one_empty_page(self, store: Store) -> None:
        assert await every_page(store, SagaFilter(), limit=10) == [[]]

    async def test_filters_combine(self, store: Store) -> None:
        await insert(
            store,
            instance(1),
            instance(2, state="shipped", status="completed"),
            instance(3, status="parked"),
            instance(4, saga="refund"),
            instance(5, version=2),
            instance(6, state="shipped", status="completed", version=2),
        )
        cases = {
            SagaFilter(saga="order"): [
                "order-0006",
                "order-0005",
                "order-0003",
                "order-0002",
                "order-0001",
            ],
            SagaFilter(saga="order", version=2): ["order-0006", "order-0005"],
            SagaFilter(state="shipped"): ["order-0006", "order-0002"],
            SagaFilter(status="parked"): ["order-0003"],
            SagaFilter(saga="order", state="shipped", version=1): ["order-0002"],
            SagaFilter(correlation="c-4"): ["refund-0004"],
            SagaFilter(saga="nope"): [],
        }
        for where, expected in cases.items():
            pages = await every_page(store, where, limit=2)
            assert [i for page in pages for i in page] == expected, where
            assert all(0 < len(page) <= 2 for page in pages) or pages == [[]], where

    async def test_a_summary_carries_the_row_without_its_data(self, store: Store) -> None:
        record = instance(1, status="parked")
        record.reason = "payment service refused: <b>card</b>"
        await insert(store, record)
        async with store.transaction() as tx:
            [summary] = (await saga_page(tx, SagaFilter())).instances
        assert summary.id == "order-0001"
        assert summary.correlation == "c-1"
        assert summary.status == "parked"
        assert summary.reason == "payment service refused: <b>card</b>"
        assert summary.created_at == T0 + timedelta(seconds=1)
        assert summary.created_at.tzinfo is not None

    async def test_the_census_counts_by_saga_version_state_and_status(self, store: Store) -> None:
        await insert(
            store,
            instance(1),
            instance(2),
            instance(3, status="parked"),
            instance(4, state="shipped", status="completed", version=2),
            instance(5, saga="refund"),
        )
        async with store.transaction() as tx:
            census = await saga_census(tx)
            only_refund = await saga_census(tx, saga="refund")
            names = await saga_names(tx)
        assert census == [
            CensusRow("order", 1, "awaiting_payment", "parked", 1),
            CensusRow("order", 1, "awaiting_payment", "running", 2),
            CensusRow("order", 2, "shipped", "completed", 1),
            CensusRow("refund", 1, "awaiting_payment", "running", 1),
        ]
        assert only_refund == [CensusRow("refund", 1, "awaiting_payment", "running", 1)]
        assert names == ["order", "refund"]

    async def test_matching_count_counts_what_the_filter_selects(self, store: Store) -> None:
        await insert(store, instance(1), instance(2, status="parked"), instance(3, saga="x"))
        async with store.transaction() as tx:
            counts = [
                await matching_count(tx, where)
                for where in (SagaFilter(), SagaFilter(saga="order"),
                              SagaFilter(saga="order", status="parked"), SagaFilter(saga="no"))
            ]  # fmt: skip
        assert counts == [3, 2, 1, 0]

    async def test_throughput_counts_started_and_finished_per_clock_minute(
        self, store: Store
    ) -> None:
        now = T0.replace(minute=14, second=30)  # the window is 12:00 to 12:15, 15 minutes
        at = T0.replace  # T0 is 12:00:00

        def finished(n: int, status: SagaStatus, created: datetime, ended: datetime,
                     version: int = 1) -> SagaRecord:
            record = instance(n, status=status, state="done", version=version)
            record.created_at, record.updated_at = created, ended
            return record

        await insert(
            store,
            finished(1, "running", at(minute=14, second=1), at(minute=14, second=2)),
            finished(2, "running", at(minute=14, second=59), at(minute=14, second=59)),
            finished(3, "completed", at(minute=10), at(minute=13, second=5)),
            finished(4, "failed", at(minute=13), at(minute=14, second=10)),
            finished(5, "completed", T0 - timedelta(minutes=1), at(minute=0)),  # started before
            finished(6, "completed", T0 - timedelta(hours=1), T0 - timedelta(seconds=1)),
            finished(7, "parked", at(minute=0), at(minute=14), version=2),
            finished(8, "running", at(minute=15), at(minute=15)),  # after the window
        )
        async with store.transaction() as tx:
            versions = [("order", 1), ("order", 2), ("order", 1), ("none", 1)]
            rows = await saga_throughput(tx, versions, now)
            three = await saga_throughput(tx, versions[:1], now, minutes=3)

        def minutes(**counts: int) -> tuple[int, ...]:
            per = [0] * 15
            for minute, count in counts.items():
                per[int(minute[1:])] = count
            return tuple(per)

        assert rows == [
            Throughput("order", 1, "started", minutes(m10=1, m13=1, m14=2)),
            Throughput("order", 1, "completed", minutes(m0=1, m13=1)),
            Throughput("order", 1, "failed", minutes(m14=1)),
            Throughput("order", 2, "started", minutes(m0=1)),
        ]
        assert [(r.outcome, r.per_minute, sum(r.per_minute)) for r in three] == [
            ("started", (0, 1, 2), 3), ("completed", (0, 1, 0), 1), ("failed", (0, 0, 1), 1)
        ]  # fmt: skip

    async def test_a_foreign_cursor_is_refused(self, store: Store) -> None:
        async with store.transaction() as tx:
            for bad in ("", "!!!", "bm90IGEgY3Vyc29y", encode_cursor(T0, "x")[:-3]):
                with pytest.raises(BadCursor):
                    await saga_page(tx, SagaFilter(), after=bad)

    async def test_a_page_size_outside_the_bounds_is_refused(self, store: Store) -> None:
        async with store.transaction() as tx:
            for size in (0, 501):
                with pytest.raises(ValueError, match="page size"):
                    await saga_page(tx, SagaFilter(), limit=size)


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(T0, "a|b")) == (T0, "a|b")
