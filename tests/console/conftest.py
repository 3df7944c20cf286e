"""Every console test runs on SQLite and on PostgreSQL (skipped, saying why, when the
server is unreachable)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_services import postgres_schema, postgres_unreachable

from bus.store import Store, open_store


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        async with open_store(f"sqlite:///{tmp_path / 'console.db'}") as opened:
            yield opened
        return
    reason = await postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    async with postgres_schema("console") as url, open_store(url) as opened:
        yield opened
