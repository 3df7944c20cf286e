"""Databases for the store tests: a fresh SQLite file, or a throw-away PostgreSQL schema
on the test server (`SAGABUS_TEST_POSTGRES`, see tests/live_services.py), dropped
afterwards together with the schemas of the namespaces a test opened in it
(`live_services.postgres_schema`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest
from live_services import PG_URL, postgres_schema, postgres_unreachable


@pytest.fixture
async def server() -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test server, outside any test schema."""
    reason = await postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    conn = await asyncpg.connect(PG_URL)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def schema_url(server: asyncpg.Connection) -> AsyncIterator[str]:
    async with postgres_schema("t") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sagabus.db'}"
