"""Fixtures of the saga engine tests: real RabbitMQ, SQLite and PostgreSQL.

Every test runs in a namespace of its own (`e<hex>`: exchanges `e<hex>.commands`, queues
`e<hex>.<endpoint>`) and on a store of its own (a SQLite file, or a PostgreSQL schema
dropped afterwards); the `broker` fixture deletes the namespace's exchanges and queues
when the test ends. `store_url` runs each test on both backends. Tests are skipped,
saying why, when RabbitMQ or PostgreSQL does not answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from engine_support import (
    AMQP_URL,
    order_endpoints,
    order_saga,
    topology_of,
)
from support.broker import TestBroker, broker_for
from support.stores import store_url_for

from bus.settings import Settings
from bus.store import Store, open_store
from bus.unitofwork.endpoint import Endpoint
from bus.wire.topology import Names


@pytest.fixture
def namespace() -> str:
    return f"e{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with store_url_for(request.param, tmp_path / "engine.db", "engine") as url:
        yield url


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """The store of the test's namespace (`bus.store.namespaces`), as its daemons open it."""
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
def settings(namespace: str, store_url: str) -> Settings:
    return Settings(
        amqp_url=AMQP_URL, store=store_url, namespace=namespace, relay_interval=0.2
    )


@pytest.fixture
def sagas(tmp_path: Path) -> Path:
    """The order saga with the default test waits (see `engine_support.Waits`)."""
    return order_saga(tmp_path / "sagas")


@pytest.fixture
def endpoints(sagas: Path) -> list[Endpoint]:
    return order_endpoints(sagas)[0]


@pytest.fixture
async def broker(settings: Settings, endpoints: Sequence[Endpoint]) -> AsyncIterator[TestBroker]:
    """RabbitMQ for this test; the namespace's exchanges and queues are deleted after."""
    async with broker_for(Names(settings.namespace)) as broker:
        broker.track(topology_of(settings, endpoints))
        await broker.declare(topology_of(settings, []))
        yield broker
