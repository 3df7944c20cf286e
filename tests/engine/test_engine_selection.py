"""`saga_dsl.engine.selection`: the instances a filter selects, read page by page,
refused when the filter is empty or selects more than the limit; an action on them
counts what it did per instance. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bus.store import SagaRecord, open_store
from bus.store.browse import SagaFilter
from saga_dsl.engine.operations import Operations
from saga_dsl.engine.selection import (
    SelectionRefused,
    apply_to_selection,
    selected_ids,
    selection_size,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def waiting(n: int, saga: str = "order_processing") -> SagaRecord:
    at = T0 + timedelta(seconds=n)
    return SagaRecord(id=f"i-{n:04d}", saga=saga, definition_version=1,
                      correlation=f"o-{n}", state="awaiting_payment", data={},
                      created_at=at, updated_at=at)  # fmt: skip


async def test_a_selection_is_read_by_pages_and_bounded(store_url: str) -> None:
    async with open_store(store_url) as store:
        async with store.transaction() as tx:
            for n in range(1203):
                await tx.saga_insert(waiting(n))
            await tx.saga_insert(waiting(9999, saga="other"))
        where = SagaFilter(saga="order_processing")
        ids = await selected_ids(store, where)
        size = await selection_size(store, where)
        with pytest.raises(SelectionRefused, match="more than 1000"):
            await selected_ids(store, where, limit=1000)
        with pytest.raises(SelectionRefused, match="at least one"):
            await selection_size(store, SagaFilter())
        outcome = await apply_to_selection(
            Operations(store, []), SagaFilter(saga="other"), "cancel", "r"
        )
    assert size == 1203 and len(ids) == len(set(ids)) == 1203
    assert ids[0] == "i-1202" and ids[-1] == "i-0000"
    assert outcome.refused == {"other v1 is not among the loaded saga files": ["i-9999"]}
    assert outcome.lines()[0] == "cancel: 0 done, 0 with nothing to do, 1 refused, of 1."
