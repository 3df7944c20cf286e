"""The test harness for sagas: `BusHarness` with the saga engine of a directory added.

    async with SagaHarness(services="shop", sagas="sagas") as h:
        await h.send(PlaceOrder(order_id="o-1", amount=12.5))
        await h.wait_idle()
        assert (await h.saga("checkout", "o-1")).state == "awaiting_shipment"
        await h.fire_timers(advance=timedelta(minutes=5))

Everything of `bus.testing.BusHarness` holds (the real `Bus` on an in-memory broker,
the record of what was sent, published and consumed); in addition the sagas of
`sagas` run beside the services, with their definition versions pinned in the store,
and saga timers fire only when `fire_timers` is called, so a test decides when time
passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bus.store import Store
from bus.testing import BusHarness
from bus.unitofwork.endpoint import Endpoint
from bus.wire.envelope import utcnow
from saga_dsl.engine.scheduler import TimerScheduler
from saga_dsl.engine.wiring import saga_runtime

MAX_TIMER_FIRINGS = 10_000
"""Firings one `fire_timers` call makes at most (a saga re-arming timers forever)."""


class SagaHarness(BusHarness):
    """`BusHarness` running the sagas of the directory `sagas` too; every other
    argument is `BusHarness`'s (services, store, settings, skip_delays, ...)."""

    def __init__(
        self,
        *,
        sagas: str | Path,
        services: Sequence[Endpoint] | str = (),
        **options: Any,
    ) -> None:
        super().__init__(services=services, **options)
        self._sagas = Path(sagas)
        self._scheduler: TimerScheduler | None = None

    async def _more_endpoints(self, store: Store) -> list[Endpoint]:
        runtime = saga_runtime(self._sagas, contracts=self._contracts)
        await runtime.pin(store)
        self._scheduler = runtime.scheduler
        return list(runtime.endpoints)

    async def fire_timers(self, advance: timedelta = timedelta(0)) -> int:
        """Fires the saga timers due within `advance` from now, as if that much time
        passed: in the order they come due, each at its due time, the bus left to go
        idle after each (so a reply that cancels a later timer is seen first). Returns
        how many fired."""
        if self._scheduler is None:
            raise RuntimeError("the harness is not running: use `async with SagaHarness(...)`")
        await self.wait_idle()
        until = utcnow() + advance
        fired = 0
        for _ in range(MAX_TIMER_FIRINGS):
            async with self.store.transaction() as tx:
                due = await tx.next_timer_due()
            if due is None or due > until:
                return fired
            fired += await self._scheduler.fire_due(self.store, max(due, utcnow()))
            await self.bus.relay.drain()
            await self.wait_idle()
        raise RuntimeError(
            f"saga timers kept coming due: {MAX_TIMER_FIRINGS} fired within {advance}"
        )
