"""The browsing queries on PostgreSQL, in a throw-away schema."""

from __future__ import annotations

import pytest

from bus.store import open_store
from bus.store.browse import SagaFilter, encode_cursor, page_query
from bus.store.throughput import minute_edges, version_query

from .browse_conformance import T0, BrowseConformance


@pytest.mark.integration
class TestPostgresBrowse(BrowseConformance):
    @pytest.fixture
    def store_url(self, schema_url: str) -> str:
        return schema_url


@pytest.mark.integration
async def test_a_later_page_starts_at_the_cursor_in_the_index(schema_url: str) -> None:
    """The cursor's condition is an index range on PostgreSQL too, not a filter over
    every newer row (which would make page 1,000 cost what OFFSET does)."""
    sql, params = page_query(SagaFilter(saga="order"), encode_cursor(T0, "x"), 50)
    async with open_store(schema_url) as store, store.transaction() as tx:
        await tx.read_rows("SET LOCAL enable_seqscan = off")
        rows = await tx.read_rows(f"EXPLAIN {sql}", params)
    plan = "\n".join(row[0] for row in rows)
    assert "Index Cond: ((saga = 'order'::text) AND (created_at <= " in plan, plan


@pytest.mark.integration
async def test_throughput_counts_ranges_of_its_indexes(schema_url: str) -> None:
    """Started and finished per minute count ranges of their own indexes."""
    sql, params = version_query("order", 1, minute_edges(T0, 15))
    async with open_store(schema_url) as store, store.transaction() as tx:
        await tx.read_rows("SET LOCAL enable_seqscan = off")
        rows = await tx.read_rows(f"EXPLAIN {sql}", params)
    plan = "\n".join(row[0] for row in rows)
    assert plan.count("Index Only Scan using saga_instance_started") == 15, plan
    assert plan.count("Index Only Scan using saga_instance_finished") == 30, plan
