"""The browsing queries on SQLite, and that they use the indexes rather than a scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.store.base import Store
from bus.store.browse import SagaFilter, encode_cursor, page_query
from bus.store.throughput import minute_edges, version_query

from .browse_conformance import T0, BrowseConformance, test_a_cursor_round_trips

__all__ = ["test_a_cursor_round_trips"]


class TestSQLiteBrowse(BrowseConformance):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'sagabus.db'}"

    async def test_pages_and_the_census_are_index_scans(self, store: Store) -> None:
        page, params = page_query(SagaFilter(saga="o"), encode_cursor(T0, "x"), 50)
        plans = {
            "saga page": (page, params),
            "census": (
                "SELECT saga, definition_version, state, status, count(*) "
                "FROM saga_instance GROUP BY saga, definition_version, state, status",
                [],
            ),
        }
        async with store.transaction() as tx:
            for name, (sql, values) in plans.items():
                rows = await tx.read_rows(f"EXPLAIN QUERY PLAN {sql}", values)
                plan = " ".join(str(row[3]) for row in rows)
                assert "USING" in plan and "INDEX" in plan, (name, plan)
                assert "TEMP B-TREE" not in plan, (name, plan)
                if name == "saga page":  # a range from the cursor, not a filtered scan
                    assert "created_at<?" in plan, plan

    async def test_throughput_counts_ranges_of_its_covering_indexes(self, store: Store) -> None:
        sql, values = version_query("order", 1, minute_edges(T0, 15))
        async with store.transaction() as tx:
            rows = await tx.read_rows(f"EXPLAIN QUERY PLAN {sql}", values)
        plan = [str(row[3]) for row in rows]
        searches = [line for line in plan if line.startswith("SEARCH")]
        started = "saga_instance_started (saga=? AND definition_version=? AND created_at>? AND "
        finished = "saga_instance_finished (saga=? AND definition_version=? AND status=? AND "
        assert len(searches) == 45, plan
        assert all("USING COVERING INDEX" in line for line in searches), plan
        assert sum(started in line for line in searches) == 15, plan
        assert sum(finished in line for line in searches) == 30, plan
