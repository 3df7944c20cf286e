"""Fixtures of the observability tests: a namespace and a SQLite store per test, and
RabbitMQ (skipped, saying why, when it does not answer); `cleanup` deletes the
exchanges and queues of the buses a test ran."""

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
def settings(tmp_path: Path) -> Settings:
    return Settings(
        amqp_url=AMQP_URL,
        store=f"sqlite:///{tmp_path / 'observability.db'}",
        namespace=f"o{uuid.uuid4().hex[:10]}",
        relay_interval=0.2,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
async def rabbitmq(settings: Settings) -> AsyncIterator[TestBroker]:
    async with broker_for(Names(settings.namespace)) as broker:
        yield broker
