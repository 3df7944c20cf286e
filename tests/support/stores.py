"""The store a test runs on: SQLite in the test's directory, or a PostgreSQL schema of
its own (skipped, saying why, when PostgreSQL does not answer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from live_services import postgres_schema, postgres_unreachable


@asynccontextmanager
async def store_url_for(kind: str, sqlite_file: Path, schema: str) -> AsyncIterator[str]:
    """The URL of a `kind` ("sqlite" or "postgres") store; a PostgreSQL schema named
    after `schema` is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    reason = await postgres_unreachable()
    if reason:
        pytest.skip(reason)
    async with postgres_schema(schema) as url:
        yield url
