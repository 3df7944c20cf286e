"""Durable timers: armed before a stop they fire after the restart, and schedulers
racing for the same due timers fire each one once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from engine_contracts import EtParcelRegistered
from engine_support import (
    HERE,
    SILENT_SHIPPER,
    Eventually,
    all_finished,
    assert_outcomes,
    create_order,
    deliver,
    history,
    instances,
    order_saga,
    place,
    plan,
    sends,
    serving,
    side_effects,
    timer_firings,
)
from support.broker import TestBroker

import handlers.messages as m
from bus.settings import Settings
from bus.store import Store, open_store
from bus.wire.envelope import utcnow
from saga_dsl.engine.wiring import saga_runtime

pytestmark = pytest.mark.integration


async def test_timers_armed_before_a_stop_fire_after_the_restart(
    broker: TestBroker, settings: Settings, tmp_path: Path, eventually: Eventually
) -> None:
    sagas = order_saga(tmp_path / "sagas")
    orders = plan(4, prefix="timers", paths=[SILENT_SHIPPER])
    async with open_store(settings) as store:
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

    async with open_store(settings) as store:
        async with serving(settings, store, sagas):
            records = await all_finished(store, settings, orders, 30)
        assert_outcomes(orders, records, await side_effects(store))
        for record in records.values():
            steps = await history(store, record)
            after = [s for s in steps if s.at > stopped]
            assert timer_firings(after)["timer timeout:shipping:3"] == 1
            assert after[-1].to_state == "cancelled"
            async with store.transaction() as tx:
                assert await tx.timers_of(record.id) == []


async def test_racing_schedulers_fire_each_timer_once(store: Store, settings: Settings) -> None:
    runtime = saga_runtime(HERE / "sagas" / "labels")
    [endpoint] = runtime.endpoints
    parcels = [f"p-{n}" for n in range(40)]
    async with store.transaction() as tx:
        for parcel in parcels:
            await deliver(tx, endpoint, EtParcelRegistered(parcel_id=parcel))
    later = utcnow() + timedelta(hours=2)  # every `weighing` timeout is due

    async with open_store(settings) as other:
        fired = await asyncio.gather(
            *(runtime.scheduler.fire_due(s, later) for s in (store, other, store, other))
        )
    assert sum(fired) == len(parcels)
    async with store.transaction() as tx:
        records = await tx.saga_list(saga="parcel_labelling")
        assert await tx.next_timer_due() is None
    assert {(r.state, r.status) for r in records} == {("abandoned", "failed")}
    for record in records:
        steps = await history(store, record)
        assert timer_firings(steps) == {"timer timeout:weighing:1": 1}


async def test_overdue_timeout_fires_before_the_overdue_retry_of_its_state(
    store: Store, tmp_path: Path
) -> None:
    runtime = saga_runtime(order_saga(tmp_path / "sagas"))
    [endpoint] = runtime.endpoints
    async with store.transaction() as tx:
        order = create_order(plan(1, prefix="overdue")[0])
        await deliver(tx, endpoint, m.OrderCreated(**order.model_dump()))
    # as after a long stop: the payment retry (2s) and the timeout (10s) are both overdue
    later = utcnow() + timedelta(hours=1)

    assert await runtime.scheduler.fire_due(store, later) == 2
    [record] = (await instances(store)).values()
    steps = await history(store, record)
    assert record.state == "voiding_payment"
    assert timer_firings(steps) == {"timer timeout:awaiting_payment:1": 1}
    assert sends(steps, "ProcessPayment") == 1
