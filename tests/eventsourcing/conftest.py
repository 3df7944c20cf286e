"""Fixtures of the event-sourcing tests: one store per test, on SQLite and PostgreSQL.

PostgreSQL tests use a schema of their own (`?schema=`), dropped afterwards; they are
skipped when no server answers at `SAGABUS_TEST_PG` (default: the local one).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bus.store import Store, open_store

PG_DSN = os.environ.get("SAGABUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_available() -> bool:
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty store's URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'es.db'}"
        return
    if not await _pg_available():
        pytest.skip(f"PostgreSQL is not reachable at {PG_DSN}")
    schema = f"es_{uuid.uuid4().hex[:12]}"
    yield f"{PG_DSN}?schema={schema}"
    await drop_schema(schema)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def backend(store_url: str) -> Iterator[str]:
    yield "sqlite" if store_url.startswith("sqlite") else "postgres"
