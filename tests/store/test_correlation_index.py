"""`saga_with_correlation` (what `sagabus status ORDER_ID` asks) is one lookup in the
index on `correlation` on both backends, not a scan of every instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.store import open_store
from bus.store.postgres.sagas import BY_CORRELATION as POSTGRES_BY_CORRELATION
from bus.store.sqlite.sagas import BY_CORRELATION as SQLITE_BY_CORRELATION

INDEX = "saga_instance_correlation"


async def test_sqlite_finds_instances_by_correlation_through_its_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sagabus.db'}"
    async with open_store(url) as store, store.transaction() as tx:
        rows = await tx.read_rows(f"EXPLAIN QUERY PLAN {SQLITE_BY_CORRELATION}", ["o-1"])
    plan = " ".join(str(row[3]) for row in rows)
    assert f"SEARCH saga_instance USING INDEX {INDEX} (correlation=?)" in plan, plan


@pytest.mark.integration
async def test_postgres_finds_instances_by_correlation_through_its_index(
    schema_url: str,
) -> None:
    async with open_store(schema_url) as store, store.transaction() as tx:
        await tx.read_rows("SET LOCAL enable_seqscan = off")  # an empty table: a scan is cheaper
        rows = await tx.read_rows(f"EXPLAIN {POSTGRES_BY_CORRELATION}", ["o-1"])
    plan = "\n".join(row[0] for row in rows)
    assert INDEX in plan and "Index Cond: (correlation = 'o-1'::text)" in plan, plan
