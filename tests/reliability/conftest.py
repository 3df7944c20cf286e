"""Fixtures of the reliability tests: a namespace and a SQLite store per test, and the
test's broker handle (`support.broker`), which deletes the namespace's exchanges and
queues afterwards. Tests that need RabbitMQ are skipped, saying why, when it does not
answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_services import AMQP_URL
from support.broker import TestBroker, broker_for

from bus.settings import Settings
from bus.store import Store, open_store
from bus.wire.topology import Names


@pytest.fixture
def namespace() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


@pytest.fixture
def names(namespace: str) -> Names:
    return Names(namespace)


@pytest.fixture
def settings(namespace: str, tmp_path: Path) -> Settings:
    return Settings(
        amqp_url=AMQP_URL, store=f"sqlite:///{tmp_path / 'bus.db'}", namespace=namespace,
        relay_interval=0.2,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
async def broker(names: Names) -> AsyncIterator[TestBroker]:
    async with broker_for(names) as broker:
        yield broker
