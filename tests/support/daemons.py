"""A daemon a test starts as a subprocess (`sagabus run`, a test script): its
environment (the test's settings as `SAGABUS_*` variables, nothing of the developer's
own `SAGABUS_*`, and the test's folders on PYTHONPATH) and the wait for its exit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bus.settings import Settings


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
