"""Fixtures of the reliability tests: a namespace and a SQLite store per test, and the
test's broker handle (`support.broker`), which deletes the namespace's exchanges and
queues afterwards. Tests that need RabbitMQ are skipped, saying why, when it does not
answer. The shared fixtures are `support.fixtures`."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fixtures import bus_settings

from bus.settings import Settings


@pytest.fixture
def settings(namespace: str, tmp_path: Path) -> Settings:
    return bus_settings(namespace, f"sqlite:///{tmp_path / 'bus.db'}")
