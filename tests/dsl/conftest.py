"""Fixtures of the saga-language tests: the message contracts and the showcase saga."""

from __future__ import annotations

import importlib

import pytest
from dsl_support import SHOWCASE

import saga_dsl
from bus.wire.contracts import Registry, registry


@pytest.fixture(scope="session")
def contracts() -> Registry:
    """The process-wide registry holding the example services' contracts."""
    importlib.import_module("handlers.messages")
    return registry


@pytest.fixture(scope="session")
def order_machine() -> saga_dsl.Machine:
    result = saga_dsl.load(SHOWCASE)
    assert result.definition is not None, [str(d) for d in result.diagnostics]
    return saga_dsl.compile(result.definition)
