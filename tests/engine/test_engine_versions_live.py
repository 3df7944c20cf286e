"""Versions side by side on real RabbitMQ: orders waiting in manual review on version 1
while version 2 is deployed beside it finish on version 1 once approved; new orders run
on version 2; a second group of waiting version 1 orders, moved by `sagabus migrate`
(a dry run first), finishes on version 2."""

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
from test_engine_migration import sagabus

from bus.settings import Settings
from bus.store import open_store

pytestmark = pytest.mark.integration


async def test_v1_instances_in_review_finish_on_v1_while_new_orders_run_on_v2(
    broker: TestBroker, settings: Settings, store_url: str, sagas: Path,
    eventually: Eventually,
) -> None:
    waiting = plan(2, prefix="v1", paths=[APPROVED])
    moved = plan(2, prefix="mv", paths=[APPROVED])
    fresh = plan(2, prefix="v2", paths=[APPROVED])
    async with open_store(store_url) as store:
        async with serving(settings, store, sagas):
            await place(settings, [*waiting, *moved])

            async def in_review() -> bool:
                records = await instances(store)
                return len(records) == 4 and all(
                    r.state == "manual_review" for r in records.values()
                )

            await eventually(in_review, 20, what="the four v1 orders in manual review")
        saga = sagas / "order_processing.yaml"
        text = saga.read_text()
        (sagas / "order_processing@1.yaml").write_text(text)
        saga.write_text(text.replace("version: 1", "version: 2", 1))
        async with serving(settings, store, sagas):
            await place(settings, fresh)
            records = await all_finished(store, settings, [*waiting, *fresh], 40)
        still = await instances(store)
        assert {still[o.order_id].definition_version for o in moved} == {1}

        dry = ("migrate", "order_processing", "--from", "1", "--to", "2", "--dry-run")
        code, said = await sagabus(store_url, sagas, *dry)
        assert code == 0, said
        assert {r.definition_version for r in (await instances(store)).values()
                if r.correlation in {o.order_id for o in moved}} == {1}
        code, said = await sagabus(store_url, sagas, *dry[:-1])
        assert code == 0, said

        async with serving(settings, store, sagas):
            records = await all_finished(store, settings, moved, 40)
    for order in moved:
        record = records[order.order_id]
        assert (record.definition_version, record.status) == (2, "completed")
    for order in waiting:
        record = records[order.order_id]
        assert (record.definition_version, record.status) == (1, "completed")
    for order in fresh:
        record = records[order.order_id]
        assert (record.definition_version, record.status) == (2, "completed")
