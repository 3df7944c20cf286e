"""A daemon a test starts as a subprocess (`sagabus run`, a test script): its
environment (the test's settings as `SAGABUS_*` variables, nothing of the developer's
own `SAGABUS_*`, and the test's folders on PYTHONPATH), the wait for the line of its
log that says it started, and the wait for its exit."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bus.settings import Settings

SAGABUS_RUN = (sys.executable, "-m", "sagabus.cli", "run")
STARTED = "bus started"


def daemon_env(
    settings: Settings, *pythonpath: Path, drop: tuple[str, ...] = ("SAGABUS_",), **more: str
) -> dict[str, str]:
    """os.environ without the variables starting with `drop`, `pythonpath` before any
    PYTHONPATH already set, the settings' broker, store and namespace, then `more`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    path = [str(p) for p in pythonpath]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join(path),
        "SAGABUS_AMQP_URL": settings.amqp_url,
        "SAGABUS_STORE": settings.store,
        "SAGABUS_NAMESPACE": settings.namespace,
        **more,
    }


async def exit_code(process: asyncio.subprocess.Process, within: float) -> int:
    """The process's exit code; it is killed when it has not exited within `within`
    seconds (and the wait fails with TimeoutError)."""
    try:
        return await asyncio.wait_for(process.wait(), within)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def until_logged(
    process: asyncio.subprocess.Process, log: Path, line: str = STARTED, within: float = 30
) -> None:
    """Returns once `log` holds `line`; fails the test (the process killed) when the
    process exits first or `within` seconds pass."""
    deadline = time.monotonic() + within
    while line not in _text(log):
        if process.returncode is not None or time.monotonic() > deadline:
            if process.returncode is None:
                process.kill()
                await process.wait()
            pytest.fail(
                f"the daemon did not start (exit {process.returncode}):\n{_text(log)}"
            )
        await asyncio.sleep(0.05)


def _text(log: Path) -> str:
    return log.read_text(errors="replace")


@asynccontextmanager
async def daemon_running(
    *argv: str, cwd: Path, env: dict[str, str], log: Path, started: str | None = STARTED
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`argv` running in `cwd`, its output in `log`, for the block: entered once the log
    holds `started` (None: at once), and stopped after it with SIGTERM (killed when it
    has not exited within 30 seconds)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdout=out, stderr=out
        )
    try:
        if started is not None:
            await until_logged(process, log, started)
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        await exit_code(process, 30)
