"""What the observability tests share: the order saga with waits of their choosing,
placing orders, waiting for sagas to end, and reading `/metrics`, `/readyz` over HTTP.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.sagas import rewrite_saga, set_every_wait

import handlers.messages as m
from bus.daemon import import_package, services_in
from bus.durations import parse_duration
from bus.settings import Settings
from bus.store import SagaRecord, Store
from bus.unitofwork.endpoint import Endpoint
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from saga_dsl.engine.wiring import SagaRuntime, saga_runtime

SAGA = "order_processing"



def order_saga(directory: Path, *, waits: Mapping[str, str] | None = None) -> Path:
    """The real order saga in `directory` with every wait (`after:`) set to 60 s, so no
    order of these tests waits on a timer, except the states named in `waits` (state ->
    its retry wait; its timeout waits three times as long)."""

    def change(saga: dict[str, Any]) -> None:
        set_every_wait(saga, "60s")
        for name, after in (waits or {}).items():
            state = saga["states"][name]
            state["retry"]["after"] = after
            state["timeout"]["after"] = f"{parse_duration(after) * 3000:.0f}ms"

    return rewrite_saga(directory, change)


def order_endpoints(sagas: Path) -> tuple[list[Endpoint], SagaRuntime]:
    runtime = saga_runtime(sagas)
    services: list[Endpoint] = list(services_in(import_package("handlers")))
    return [*services, *runtime.endpoints], runtime


@dataclass(frozen=True)
class Path_:
    """One way through the order saga, none of which waits on a person."""

    name: str
    amount: float
    sku: str
    state: str
    outcome: str


COMPLETED = Path_("completed", 120.0, "BOOK-1", "completed", "success")
DECLINED = Path_("declined", 60_000.0, "YACHT-1", "cancelled", "failure")
OUT_OF_STOCK = Path_("out of stock", 80.0, "OOS-LAMP", "cancelled", "failure")
SILENT_SHIPPER = Path_("silent shipper", 95.0, "SLOW-SOFA", "cancelled", "failure")


def create_order(order_id: str, path: Path_) -> m.CreateOrder:
    item = m.OrderItem(sku=path.sku, quantity=1, unit_price=path.amount)
    return m.CreateOrder(order_id=order_id, customer_id="customer-1", items=[item],
                         amount=path.amount)


async def place(
    settings: Settings, orders: Iterable[tuple[str, Path_]], traceparents: Sequence[str] = ()
) -> None:
    """Sends CreateOrder for each (order id, path), with the traceparents given (in order)."""
    async with BusClient(settings) as client:
        for i, (order_id, path) in enumerate(orders):
            traceparent = traceparents[i] if i < len(traceparents) else None
            await client.dispatch(Envelope.of(create_order(order_id, path),
                                              traceparent=traceparent))


async def finished(store: Store, count: int, within: float) -> dict[str, SagaRecord]:
    """The order sagas by order id, once `count` of them left `running`."""
    deadline = time.monotonic() + within
    while True:
        async with store.transaction() as tx:
            records = await tx.saga_list(saga=SAGA, limit=10_000)
        done = {r.correlation: r for r in records if r.status != "running"}
        if len(done) >= count:
            return done
        if time.monotonic() > deadline:
            states = sorted((r.correlation, r.state) for r in records if r.status == "running")
            pytest.fail(f"{len(done)} of {count} sagas finished within {within}s: {states[:5]}")
        await asyncio.sleep(0.1)


# -- HTTP -------------------------------------------------------------------------------
async def get(url: str) -> tuple[int, bytes]:
    """GET `url` (on this machine): status and body, whatever the status."""

    def fetch() -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    return await asyncio.to_thread(fetch)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Sample name and sorted labels -> value."""


async def scrape(url: str) -> Samples:
    status, body = await get(url)
    assert status == 200, body
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))
