"""The browsing queries on PostgreSQL, in a throw-away schema."""

from __future__ import annotations

import pytest

from .browse_conformance import BrowseConformance


@pytest.mark.integration
class TestPostgresBrowse(BrowseConformance):
    @pytest.fixture
    def store_url(self, schema_url: str) -> str:
        return schema_url
