"""Databases for the store tests: a fresh SQLite file, or a throw-away PostgreSQL schema
on the test server (`SAGABUS_TEST_POSTGRES`, see tests/live_services.py), dropped
afterwards together with the schemas of the namespaces a test opened in it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest
from live_services import PG_URL

SERVER_URL = PG_URL

_server_checked: dict[str, str | None] = {}


async def _unreachable_reason() -> str | None:
    """Why the test server cannot be used, or None; asked once per session."""
    if SERVER_URL not in _server_checked:
        try:
            conn = await asyncpg.connect(SERVER_URL, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _server_checked[SERVER_URL] = f"PostgreSQL unreachable at {SERVER_URL}: {exc}"
        else:
            await conn.close()
            _server_checked[SERVER_URL] = None
    return _server_checked[SERVER_URL]


@pytest.fixture
async def server() -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test server, outside any test schema."""
    reason = await _unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    conn = await asyncpg.connect(SERVER_URL)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def schema_url(server: asyncpg.Connection) -> AsyncIterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in SERVER_URL else "?"
    yield f"{SERVER_URL}{separator}schema={schema}"
    # the schema and those of the namespaces opened on it (`{schema}_{namespace}`)
    schemas = await server.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')",
        schema,
    )
    for (name,) in schemas:
        await server.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sagabus.db'}"
