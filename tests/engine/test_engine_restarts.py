"""The daemon stopped or killed while sagas are in flight: after a restart every saga
finishes, nothing is charged, refunded or reserved twice, and timers armed before the
stop fire after it."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import (
    BUSY,
    SILENT_SHIPPER,
    Broker,
    Daemon,
    Waits,
    all_finished,
    assert_outcomes,
    dead_letters,
    history,
    instances,
    order_saga,
    place,
    plan,
    serving,
    side_effects,
    timer_firings,
)

from bus.endpoint import Endpoint
from bus.envelope import utcnow
from bus.settings import Settings
from bus.store import Store, open_store

pytestmark = pytest.mark.integration

SAGAS = 200


async def test_sigkill_mid_way_through_200_sagas_then_restart_finishes_each_once(
    broker: Broker,
    settings: Settings,
    store: Store,
    endpoints: list[Endpoint],
    tmp_path: Path,
    eventually,
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
        assert_outcomes(orders, records, effects)

        async def everyone_told() -> bool:
            return {o.order_id for o in orders} <= set((await side_effects(store)).notifications)

        await eventually(everyone_told, 30, what="every customer notified of the outcome")
        assert await daemon.stop() == 0, daemon.log.read_text()[-3000:]
    finally:
        daemon.ensure_dead()
    assert await dead_letters(settings, endpoints) == {}


async def test_timers_armed_before_a_stop_fire_after_the_restart(
    broker: Broker, settings: Settings, store_url: str, tmp_path: Path, eventually
) -> None:
    sagas = order_saga(tmp_path / "sagas", Waits(shipping_retry="1s", shipping_timeout="3s"))
    orders = plan(4, prefix="timers", paths=[SILENT_SHIPPER])
    async with open_store(store_url) as store:
        async with serving(settings, store, sagas):
            await place(settings, orders)

            async def all_waiting_on_the_shipper() -> bool:
                records = await instances(store)
                return len(records) == len(orders) and all(
                    r.state == "shipping" for r in records.values()
                )

            await eventually(all_waiting_on_the_shipper, 20)
        stopped = utcnow()
        armed = {}
        for record in (await instances(store)).values():
            async with store.transaction() as tx:
                armed[record.id] = await tx.timers_of(record.id)
        assert all(armed.values()), "every instance waits on its retry and timeout timers"
        due = max(t.due_at for timers in armed.values() for t in timers)
        # everything the daemon would have fired is overdue before it comes back
        await eventually(lambda: utcnow() > due, 10, what="timers overdue")

    async with open_store(store_url) as store:
        async with serving(settings, store, sagas):
            records = await all_finished(store, settings, orders, 30)
        assert_outcomes(orders, records, await side_effects(store))
        for record in records.values():
            steps = await history(store, record)
            after = [s for s in steps if s.at > stopped]
            assert timer_firings(after)[f"timer timeout:shipping:{3}"] == 1
            assert after[-1].to_state == "cancelled"
            async with store.transaction() as tx:
                assert await tx.timers_of(record.id) == []
