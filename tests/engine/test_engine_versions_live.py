"""Versions side by side on real RabbitMQ: orders waiting in manual review on version 1
while version 2 is deployed beside it finish on version 1 once approved; new orders run
on version 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import (
    APPROVED,
    Eventually,
    all_finished,
    instances,
    place,
    plan,
    serving,
)
from support.broker import TestBroker

from bus.settings import Settings
from bus.store import open_store

pytestmark = pytest.mark.integration


async def test_v1_instances_in_review_finish_on_v1_while_new_orders_run_on_v2(
    broker: TestBroker, settings: Settings, store_url: str, sagas: Path,
    eventually: Eventually,
) -> None:
    waiting = plan(2, prefix="v1", paths=[APPROVED])
    fresh = plan(2, prefix="v2", paths=[APPROVED])
    async with open_store(store_url) as store:
        async with serving(settings, store, sagas):
            await place(settings, waiting)

            async def in_review() -> bool:
                records = await instances(store)
                return len(records) == 2 and all(
                    r.state == "manual_review" for r in records.values()
                )

            await eventually(in_review, 20, what="both v1 orders in manual review")
        saga = sagas / "order_processing.yaml"
        text = saga.read_text()
        (sagas / "order_processing@1.yaml").write_text(text)
        saga.write_text(text.replace("version: 1", "version: 2", 1))
        async with serving(settings, store, sagas):
            await place(settings, fresh)
            records = await all_finished(store, settings, [*waiting, *fresh], 40)
    for order in waiting:
        record = records[order.order_id]
        assert (record.definition_version, record.status) == (1, "completed")
    for order in fresh:
        record = records[order.order_id]
        assert (record.definition_version, record.status) == (2, "completed")
