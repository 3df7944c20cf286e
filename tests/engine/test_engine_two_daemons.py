"""Two daemons on one PostgreSQL store and one RabbitMQ namespace share 200 sagas: each
saga finishes once, each side effect happens once, and each timer fires once."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import (
    BUSY,
    SHIPPING_ATTEMPTS,
    Daemon,
    all_finished,
    assert_consistent,
    assert_each_input_once,
    dead_letters,
    history,
    order_saga,
    place,
    plan,
    sends,
    side_effects,
)
from support.broker import TestBroker

from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.endpoint import Endpoint

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_two_daemons_share_200_sagas_each_effect_and_timer_once(
    broker: TestBroker, settings: Settings, store: Store, endpoints: list[Endpoint], tmp_path: Path
) -> None:
    sagas = order_saga(tmp_path / "sagas", BUSY)
    orders = plan(200, prefix="pair")
    daemons = [Daemon(settings, sagas, tmp_path / f"daemon{n}.log") for n in (1, 2)]
    try:
        for daemon in daemons:
            await daemon.start()
        await place(settings, orders)
        records = await all_finished(store, settings, orders, 120)
        assert_consistent(orders, records, await side_effects(store))
        for daemon in daemons:
            assert await daemon.stop() == 0, daemon.log.read_text()[-3000:]
    finally:
        for daemon in daemons:
            daemon.ensure_dead()

    await assert_each_input_once(store, records)
    for record in records.values():
        assert sends(await history(store, record), "ShipOrder") <= 1 + SHIPPING_ATTEMPTS
    for daemon in daemons:
        assert daemon.lines('"saga finished"'), f"{daemon.log.name} finished no saga"
        assert not daemon.lines('"level":"error"'), daemon.lines('"level":"error"')[:3]
    assert await dead_letters(settings, endpoints) == {}
