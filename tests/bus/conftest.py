"""Fixtures of the bus tests: a namespace per test, a store per test, a bus per test.

Every test that touches RabbitMQ runs in a namespace of its own (`b<hex>`): its
exchanges are `b<hex>.commands` / `b<hex>.events` and its queues `b<hex>.<endpoint>`,
so no test ever sees another's messages; the `broker` fixture deletes all of it
afterwards. Tests are skipped, saying why, when RabbitMQ (or PostgreSQL, for the
PostgreSQL variants) does not answer. The shared fixtures are `support.fixtures`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.fixtures import bus_settings
from support.stores import store_url_for

from bus.settings import Settings


@pytest.fixture(params=["sqlite"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """SQLite by default; a test parametrized with `["sqlite", "postgres"]` (indirect)
    runs on both."""
    async with store_url_for(request.param, tmp_path / "bus.db", "bus") as url:
        yield url


@pytest.fixture
def settings(namespace: str, store_url: str) -> Settings:
    return bus_settings(namespace, store_url, prefetch=50, batch_max=25)
