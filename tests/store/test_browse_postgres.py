"""The browsing queries on PostgreSQL, in a throw-away schema."""

from __future__ import annotations

import pytest

from .browse_conformance import BrowseConformance
from .test_postgres import schema_url, server

__all__ = ["schema_url", "server"]


@pytest.mark.integration
class TestPostgresBrowse(BrowseConformance):
    @pytest.fixture
    def store_url(self, schema_url: str) -> str:
        return schema_url
