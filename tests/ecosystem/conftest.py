"""Fixtures of the ecosystem tests: a namespace, a store and a RabbitMQ handle per test.

Every test that touches RabbitMQ runs in a namespace of its own (`e<hex>`), and what it
declared is deleted afterwards. Tests are skipped, saying why, when RabbitMQ does not
answer. The shared fixtures are `support.fixtures`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fixtures import bus_settings

from bus.settings import Settings


@pytest.fixture
def settings(namespace: str, tmp_path: Path) -> Settings:
    return bus_settings(
        namespace, f"sqlite:///{tmp_path / 'bus.db'}", prefetch=50, batch_max=25
    )
