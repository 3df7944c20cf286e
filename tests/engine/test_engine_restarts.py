"""The daemon killed with SIGKILL in the middle of 200 sagas: after a restart every saga
finishes, and nothing is charged, refunded or reserved twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import (
    BUSY,
    Daemon,
    Eventually,
    all_finished,
    assert_consistent,
    assert_each_input_once,
    dead_letters,
    instances,
    order_saga,
    place,
    plan,
    side_effects,
)
from support.broker import TestBroker

from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.endpoint import Endpoint

pytestmark = pytest.mark.integration

SAGAS = 200


async def test_sigkill_mid_way_through_200_sagas_then_restart_finishes_each_once(
    broker: TestBroker,
    settings: Settings,
    store: Store,
    endpoints: list[Endpoint],
    tmp_path: Path,
    eventually: Eventually,
) -> None:
    # shipping waits long enough that a restart does not time out a shipper that answers
    sagas = order_saga(tmp_path / "sagas-crash", BUSY)
    orders = plan(SAGAS, prefix="crash")
    daemon = Daemon(settings, sagas, tmp_path / "daemon.log")
    try:
        await daemon.start()
        await place(settings, orders)

        async def some_finished() -> bool:
            records = await instances(store)
            return sum(r.status != "running" for r in records.values()) >= SAGAS // 10

        await eventually(some_finished, 60, interval=0.1, what="a tenth of the sagas finished")
        await daemon.kill()
        records = await instances(store)
        running = sum(r.status == "running" for r in records.values())
        assert running + (SAGAS - len(records)) > SAGAS // 4, "killed too late to mean much"

        await daemon.start()
        assert daemon.process is not None
        records = await all_finished(store, settings, orders, 120, watch=daemon.process)
        effects = await side_effects(store)
        assert_consistent(orders, records, effects)
        await assert_each_input_once(store, records)

        async def everyone_told() -> bool:
            return {o.order_id for o in orders} <= set((await side_effects(store)).notifications)

        await eventually(everyone_told, 30, what="every customer notified of the outcome")
        assert await daemon.stop() == 0, daemon.log.read_text()[-3000:]
    finally:
        daemon.ensure_dead()
    assert await dead_letters(settings, endpoints) == {}
