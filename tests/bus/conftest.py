"""Fixtures of the bus tests: a namespace per test, a store per test, a bus per test.

Every test that touches RabbitMQ runs in a namespace of its own (`t<hex>`): its
exchanges are `t<hex>.commands` / `t<hex>.events` and its queues `t<hex>.<endpoint>`,
so no test ever sees another's messages; the `broker` fixture deletes all of it
afterwards. Tests are skipped, saying why, when RabbitMQ (or PostgreSQL, for the
PostgreSQL variants) does not answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_services import AMQP_URL
from support.broker import TestBroker, broker_for
from support.buses import BusFactory, bus_factory
from support.stores import store_url_for

from bus.settings import Settings
from bus.store import Store, open_store
from bus.wire.topology import Names


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def names(namespace: str) -> Names:
    return Names(namespace)


@pytest.fixture(params=["sqlite"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """SQLite by default; a test parametrized with `["sqlite", "postgres"]` (indirect)
    runs on both."""
    async with store_url_for(request.param, tmp_path / "bus.db", "bus") as url:
        yield url


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """The store of the test's namespace (`bus.store.namespaces`), as its daemons open it."""
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
def settings(namespace: str, store_url: str) -> Settings:
    return Settings(
        amqp_url=AMQP_URL,
        store=store_url,
        namespace=namespace,
        relay_interval=0.2,
        prefetch=50,
        batch_max=25,
    )


@pytest.fixture
async def broker(names: Names) -> AsyncIterator[TestBroker]:
    async with broker_for(names) as broker:
        yield broker


@pytest.fixture
async def make_bus(
    broker: TestBroker, settings: Settings, store: Store
) -> AsyncIterator[BusFactory]:
    """`bus = await make_bus([ledger, audit])`: a started bus, stopped afterwards."""
    async with bus_factory(broker, settings, store) as make:
        yield make


