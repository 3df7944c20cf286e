"""Fixtures of the saga engine tests: real RabbitMQ, SQLite and PostgreSQL.

Every test runs in a namespace of its own (`e<hex>`: exchanges `e<hex>.commands`, queues
`e<hex>.<endpoint>`) and on a store of its own (a SQLite file, or a PostgreSQL schema
dropped afterwards); the `broker` fixture deletes the namespace's exchanges and queues
when the test ends. `store_url` runs each test on both backends. Tests are skipped,
saying why, when RabbitMQ or PostgreSQL does not answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from engine_support import (
    order_saga,
    served_with,
    topology_of,
)
from support.broker import TestBroker, broker_for
from support.fixtures import bus_settings
from support.stores import store_url_for

from bus.settings import Settings
from bus.unitofwork.endpoint import Endpoint
from bus.wire.topology import Names
from saga_dsl.engine.wiring import SagaRuntime, saga_runtime


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with store_url_for(request.param, tmp_path / "engine.db", "engine") as url:
        yield url


@pytest.fixture
def settings(namespace: str, store_url: str) -> Settings:
    return bus_settings(namespace, store_url)


@pytest.fixture
def sagas(tmp_path: Path) -> Path:
    """The order saga with the default test waits (see `engine_support.Waits`)."""
    return order_saga(tmp_path / "sagas")


@pytest.fixture
def runtime(sagas: Path) -> SagaRuntime:
    return saga_runtime(sagas)


@pytest.fixture
def payments() -> Endpoint | None:
    """The payments service a test serves in place of the example one (None: the example)."""
    return None


@pytest.fixture
def endpoints(runtime: SagaRuntime, payments: Endpoint | None) -> list[Endpoint]:
    return served_with(runtime, payments)


@pytest.fixture
async def broker(
    names: Names, settings: Settings, endpoints: Sequence[Endpoint]
) -> AsyncIterator[TestBroker]:
    """RabbitMQ for this test, with the saga endpoints' topology tracked: all of it is
    deleted afterwards."""
    async with broker_for(names) as broker:
        broker.track(topology_of(settings, endpoints))
        await broker.declare(topology_of(settings, []))
        yield broker
