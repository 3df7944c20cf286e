"""Helpers shared by every test directory: waiting on conditions, never on clocks.

`eventually(predicate, timeout)` polls a condition (a plain or async callable) until it
holds or the deadline passes; tests use it (through the `eventually` fixture or by
importing nothing at all) instead of bare sleeps.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

Predicate = Callable[[], Any] | Callable[[], Awaitable[Any]]


async def eventually(
    predicate: Predicate,
    timeout: float = 10.0,  # noqa: ASYNC109 - the deadline is what this helper is for
    *,
    interval: float = 0.05,
    what: str | None = None,
) -> Any:
    """Returns the first truthy value of `predicate()` (awaited when it is a coroutine),
    or fails the test after `timeout` seconds, saying `what` was awaited and the last
    value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            pytest.fail(f"not within {timeout}s: {name} (last value {value!r})")
        await asyncio.sleep(interval)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Blocks until `host:port` accepts connections, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() >= deadline:
            pytest.fail(f"{host}:{port} did not open within {timeout}s")
        time.sleep(0.2)


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., Awaitable[Any]]:
    """`await eventually(lambda: cond, timeout=5)` (see the module docstring)."""
    return eventually
