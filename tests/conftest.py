"""Helpers shared by every test directory: waiting on conditions, never on clocks; and
the rule that a run cannot pass by skipping.

At session start the run checks its RabbitMQ and PostgreSQL (server, vhost, role,
database, credentials) and fails at once, in one line, when one is missing. A run in
which any test skipped fails too. `SAGABUS_TEST_ALLOW_SKIP=1` allows both (a developer
without the services); CI never sets it.

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
from live_services import ALLOW_SKIP, services_missing, skips_allowed

pytest_plugins = ["support.fixtures"]
"""The RabbitMQ suites' shared fixtures (namespace, names, store, broker, make_bus); a
suite's conftest.py overrides what means something else there."""

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


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fails the run before collection when its services are missing (see the docstring)."""
    if skips_allowed():
        return
    missing = asyncio.run(services_missing())
    if missing is not None:
        raise pytest.UsageError(missing)


_skipped: list[str] = []
OPTIONAL = "optional tool missing:"
"""A skip whose reason starts so names a desktop tool outside the project's services
(a browser): it is reported under -rs but does not fail the run."""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        if not reason.removeprefix("Skipped: ").startswith(OPTIONAL):
            _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that skipped anything fails, unless skips were asked for."""
    if _skipped and not skips_allowed() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int) -> None:
    if _skipped and not skips_allowed():
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped (see -rs for why); a run may skip"
            f" only with {ALLOW_SKIP}=1",
            red=True,
        )
