"""The fixtures the RabbitMQ suites share, imported by their conftest.py (bus,
reliability, observability, engine, ecosystem): a namespace per test, its names, its
settings' store as the daemons open it, the test's broker handle and buses.

Each suite keeps its own `settings` (which store, which tuning), built with
`bus_settings`; suites whose store is opened by URL rather than by the namespaced
settings (store, eventsourcing) keep their own `store`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from live_services import AMQP_URL

from bus.settings import Settings
from bus.store import Store, open_store
from bus.wire.topology import Names
from support.broker import TestBroker, broker_for
from support.buses import BusFactory, bus_factory


def bus_settings(namespace: str, store: str, **tuning: Any) -> Settings:
    """Settings of a test's bus: the test RabbitMQ, `store`, the test's namespace and a
    quick outbox relay; `tuning` adds or overrides the rest."""
    return Settings(
        **{"amqp_url": AMQP_URL, "store": store, "namespace": namespace,
           "relay_interval": 0.2, **tuning}
    )



@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """`<letter><hex>`, the letter the suite's folder's (b for bus, r for reliability...):
    a leftover queue says which suite left it."""
    return f"{request.path.parent.name[0]}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def names(namespace: str) -> Names:
    return Names(namespace)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """The store of the test's namespace (`bus.store.namespaces`), as its daemons open it."""
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
async def broker(names: Names) -> AsyncIterator[TestBroker]:
    """The test's handle on RabbitMQ; the namespace's exchanges and queues, and what it
    tracked, are deleted afterwards."""
    async with broker_for(names) as handle:
        yield handle


@pytest.fixture
async def make_bus(
    broker: TestBroker, settings: Settings, store: Store
) -> AsyncIterator[BusFactory]:
    """`bus = await make_bus([service], background=[...])`: started, stopped afterwards."""
    async with bus_factory(broker, settings, store) as make:
        yield make
