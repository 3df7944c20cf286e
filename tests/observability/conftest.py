"""Fixtures of the observability tests: a namespace and a SQLite store per test, and
RabbitMQ (skipped, saying why, when it does not answer); `cleanup` deletes the
exchanges and queues of the buses a test ran."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from observability_support import AMQP_URL, Topologies, rabbitmq_unreachable

from bus.settings import Settings
from bus.store import Store, open_store
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Topology


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
async def rabbitmq(settings: Settings) -> AsyncIterator[Topologies]:
    reason = await rabbitmq_unreachable()
    if reason:
        pytest.skip(reason)
    topologies = Topologies()
    yield topologies
    everything = Topology()
    for topology in topologies.tracked:
        everything = everything + topology
    transport = RabbitMQTransport(settings.amqp_url, name="sagabus-tests")
    await transport.connect()
    try:
        await transport.delete(everything)
    finally:
        await transport.close()
