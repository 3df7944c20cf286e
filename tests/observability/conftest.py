"""Fixtures of the observability tests: a namespace and a SQLite store per test, and
RabbitMQ (skipped, saying why, when it does not answer); `rabbitmq`, the test's broker
handle, deletes the exchanges and queues of the buses a test ran. The shared fixtures
are `support.fixtures`."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.broker import TestBroker
from support.fixtures import bus_settings

from bus.settings import Settings


@pytest.fixture
def settings(namespace: str, tmp_path: Path) -> Settings:
    return bus_settings(namespace, f"sqlite:///{tmp_path / 'observability.db'}")


@pytest.fixture
def rabbitmq(broker: TestBroker) -> TestBroker:
    """The observability tests' name for the broker handle."""
    return broker
