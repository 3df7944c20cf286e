"""The browsing queries on SQLite, and that they use the indexes rather than a scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.store.base import Store

from .browse_conformance import BrowseConformance, test_a_cursor_round_trips

__all__ = ["test_a_cursor_round_trips"]


class TestSQLiteBrowse(BrowseConformance):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'sagabus.db'}"

    async def test_pages_and_the_census_are_index_scans(self, store: Store) -> None:
        plans = {
            "saga page": "SELECT id FROM saga_instance WHERE saga = 'o' "
            "AND (created_at < 'x' OR (created_at = 'x' AND id < 'y')) "
            "ORDER BY created_at DESC, id DESC LIMIT 51",
            "census": "SELECT saga, definition_version, state, status, count(*) "
            "FROM saga_instance GROUP BY saga, definition_version, state, status",
        }
        async with store.transaction() as tx:
            for name, sql in plans.items():
                plan = " ".join(
                    str(row[3]) for row in await tx.read_rows(f"EXPLAIN QUERY PLAN {sql}")
                )
                assert "USING" in plan and "INDEX" in plan, (name, plan)
                assert "TEMP B-TREE" not in plan, (name, plan)
