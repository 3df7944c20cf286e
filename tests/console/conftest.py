"""Every console test runs on SQLite and on PostgreSQL (skipped, saying why, when the
server is unreachable)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.stores import store_url_for

from bus.store import Store, open_store


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with (
        store_url_for(request.param, tmp_path / "console.db", "console") as url,
        open_store(url) as opened,
    ):
        yield opened
