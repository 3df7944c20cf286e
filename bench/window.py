"""Steps per second with L order sagas in flight, measured in a window of time.

    python -m bench.window [--levels 100,100000] [--window 90] [--store sqlite]

`bench.scaling`'s levels run every order to the end (2L orders): at 100,000 in flight
that is hours on a shared 2-core machine. Here each level keeps L orders going (a
closed loop: each order that ends lets the next one in) through a bus in this
process: first L orders are sent (500 at a time), then the history rows the store
takes during `--window` seconds are counted (one row per step an instance takes: its
start, each reply, each timer). Levels run back to back,
each on a fresh store and namespace, so compare them within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from dataclasses import dataclass

from bench.order_saga import SAGAS, FinalTap, fresh_store, place_order
from bench.pingpong_aiopika import AMQP_URL
from bench.pingpong_sagabus import delete_topology
from bus import Bus, BusClient, Settings
from bus.discovery import import_package, services_in
from bus.observability.logging import configure_logging
from bus.store import Store, open_store
from bus.unitofwork.endpoint import Endpoint
from saga_dsl.engine.wiring import saga_runtime

RAMP_SENDS = 500
"""CreateOrders sent at once while filling: one at a time, each awaiting its publisher
confirm, fills 100,000 at about 30 a second."""


@dataclass(frozen=True)
class WindowRun:
    in_flight: int
    seconds: float
    steps: int
    ramp_seconds: float
    """From the first order sent until all L were."""

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds


class InFlight:
    """Keeps `in_flight` orders going until cancelled; `ready` is set once all of them
    were sent (the queues hold them: the daemon's work from there on is steady)."""

    def __init__(self, settings: Settings, in_flight: int) -> None:
        self.settings = settings
        self.in_flight = in_flight
        self.ready = asyncio.Event()

    async def __call__(self) -> None:
        async with FinalTap(self.settings.amqp_url, self.settings.namespace) as tap, \
                BusClient(self.settings) as client:
            for first in range(0, self.in_flight, RAMP_SENDS):
                last = min(first + RAMP_SENDS, self.in_flight)
                await tap.guard(asyncio.gather(*(place_order(client, n)
                                                 for n in range(first, last))))
            self.ready.set()
            n = self.in_flight
            while True:
                await tap.guard(tap.next_end())
                await tap.guard(place_order(client, n))
                n += 1


async def history_rows(store: Store) -> int:
    async with store.transaction() as tx:
        rows = await tx.read_rows("SELECT count(*) FROM saga_history")
    return int(rows[0][0])


async def measure(
    store_url: str, in_flight: int, window: float, *, amqp_url: str, prefetch: int,
    ramp_limit: float,
) -> WindowRun:
    settings = Settings(amqp_url=amqp_url, store=store_url, prefetch=prefetch,
                        namespace=f"bench-win-{uuid.uuid4().hex[:8]}")
    services = services_in(import_package("handlers"))  # their contracts check the sagas
    runtime = saga_runtime(SAGAS)
    endpoints: list[Endpoint] = [*services, *runtime.endpoints]
    async with open_store(settings.store) as store:
        await runtime.pin(store)
        bus = Bus(settings, store, endpoints, background=[runtime.scheduler])
        try:
            async with bus:
                load = InFlight(settings, in_flight)
                started = time.perf_counter()
                driving = asyncio.create_task(load())
                try:
                    await asyncio.wait_for(asyncio.shield(load.ready.wait()), ramp_limit)
                    ramp = time.perf_counter() - started
                    before, opened = await history_rows(store), time.perf_counter()
                    await asyncio.sleep(window)
                    after, closed = await history_rows(store), time.perf_counter()
                finally:
                    driving.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await driving
        finally:
            await delete_topology(settings, bus)
    return WindowRun(in_flight, closed - opened, after - before, ramp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="100,100000", help="orders in flight, comma-separated")
    parser.add_argument("--window", type=float, default=90.0, help="seconds counted per level")
    parser.add_argument("--ramp-limit", type=float, default=1800.0,
                        help="seconds a level may take to fill its queues")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args()
    configure_logging("console", "warning")

    async def each() -> None:
        first: WindowRun | None = None
        with tempfile.TemporaryDirectory() as tmp:
            for level in (int(n) for n in args.levels.split(",") if n):
                async with fresh_store(args.store, tmp) as url:
                    run = await measure(url, level, args.window, amqp_url=args.amqp_url,
                                        prefetch=args.prefetch, ramp_limit=args.ramp_limit)
                first = first or run
                print(f"{level:,} in flight: {run.steps_per_second:.1f} steps/s over "
                      f"{run.seconds:.0f} s ({run.steps:,} history rows; filled in "
                      f"{run.ramp_seconds:.0f} s); "
                      f"{run.steps_per_second / first.steps_per_second:.2f}x of "
                      f"{first.in_flight:,}", flush=True)

    asyncio.run(each())


if __name__ == "__main__":
    main()
