"""Buses a test starts: `bus = await make([service])`, each one's topology tracked by
the test's broker handle (deleted afterwards), every one stopped when the test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import Bus
from support.broker import TestBroker

BusFactory = Callable[..., Awaitable[Bus]]
"""`await make(endpoints, **Bus keyword arguments)`; `settings=` and `store=` override
the test's."""


@asynccontextmanager
async def bus_factory(
    broker: TestBroker, settings: Settings, store: Store
) -> AsyncIterator[BusFactory]:
    started: list[Bus] = []

    async def make(endpoints: Sequence[Endpoint], **kwargs: Any) -> Bus:
        bus = Bus(kwargs.pop("settings", settings), kwargs.pop("store", store), endpoints,
                  **kwargs)
        broker.track(bus.topology())
        await bus.start()
        started.append(bus)
        return bus

    try:
        yield make
    finally:
        for bus in started:
            if bus.running:
                await bus.stop()
