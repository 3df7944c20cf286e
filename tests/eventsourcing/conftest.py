"""Fixtures of the event-sourcing tests: one store per test, on SQLite and PostgreSQL.

PostgreSQL tests use a schema of their own (`?schema=`), dropped afterwards; they are
skipped, saying why, when no server answers at `SAGABUS_TEST_POSTGRES` (see
tests/live_services.py) and skips were allowed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest
from live_services import PG_URL

from bus.store import Store, open_store

PG_DSN = PG_URL

_unreachable: dict[str, str | None] = {}


async def _pg_unreachable() -> str | None:
    """Why the PostgreSQL server cannot be used, or None; asked once per session."""
    if PG_DSN not in _unreachable:
        try:
            conn = await asyncpg.connect(PG_DSN, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _unreachable[PG_DSN] = f"PostgreSQL unreachable at {PG_DSN}: {exc}"
        else:
            await conn.close()
            _unreachable[PG_DSN] = None
    return _unreachable[PG_DSN]


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
    reason = await _pg_unreachable()
    if reason is not None:
        pytest.skip(reason)
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
