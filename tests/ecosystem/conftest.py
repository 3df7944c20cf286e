"""Fixtures of the ecosystem tests: a namespace, a store and a RabbitMQ handle per test.

Every test that touches RabbitMQ runs in a namespace of its own (`e<hex>`), and what it
declared is deleted afterwards. Tests are skipped, saying why, when RabbitMQ does not
answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_services import AMQP_URL
from support.broker import TestBroker, broker_for
from support.buses import BusFactory, bus_factory

from bus.settings import Settings
from bus.store import Store, open_store
from bus.wire.topology import Names

Broker = TestBroker
"""The test's own handle on RabbitMQ (`support.broker`)."""


@pytest.fixture
def namespace() -> str:
    return f"e{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(namespace: str, tmp_path: Path) -> Settings:
    return Settings(
        amqp_url=AMQP_URL,
        store=f"sqlite:///{tmp_path / 'bus.db'}",
        namespace=namespace,
        relay_interval=0.2,
        prefetch=50,
        batch_max=25,
    )


@pytest.fixture
async def broker(namespace: str) -> AsyncIterator[Broker]:
    async with broker_for(Names(namespace)) as handle:
        yield handle


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
async def make_bus(
    broker: Broker, settings: Settings, store: Store
) -> AsyncIterator[BusFactory]:
    """`bus = await make_bus([service], background=[...])`: started, stopped afterwards."""
    async with bus_factory(broker, settings, store) as make:
        yield make
