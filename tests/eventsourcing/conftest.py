"""Fixtures of the event-sourcing tests: one store per test, on SQLite and PostgreSQL.

PostgreSQL tests use a schema of their own (`?schema=`), dropped afterwards
(`support.stores.store_url_for`); they are skipped, saying why, when no server answers
at `SAGABUS_TEST_POSTGRES` (see tests/live_services.py) and skips were allowed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.stores import store_url_for

from bus.store import Store, open_store


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty store's URL on each backend."""
    async with store_url_for(request.param, tmp_path / "es.db", "es") as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def backend(store_url: str) -> Iterator[str]:
    yield "sqlite" if store_url.startswith("sqlite") else "postgres"
