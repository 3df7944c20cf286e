"""Taking the local RabbitMQ's app away and bringing it back (`rabbitmqctl`), for the
tests and the chaos run that check what the bus does while the broker is down: the
outage as a block, and the waits that make sure the broker is back after it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 5672


async def rabbitmqctl(*args: str, within: float = 120) -> None:
    """Runs `rabbitmqctl ARGS`; fails when it exits with an error or takes longer."""
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), within)
    if process.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {err.decode().strip()}")


async def wait_for_port(host: str, port: int, within: float) -> None:
    """Returns once `host:port` accepts connections; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host}:{port} did not open within {within:g}s") from None
            await asyncio.sleep(0.2)
        else:
            writer.close()
            await writer.wait_closed()
            return


@asynccontextmanager
async def broker_down(within: float = 120) -> AsyncIterator[None]:
    """RabbitMQ's app stopped for the block; always started again after it, and waited
    for (up to `within` seconds) until it has started and its port takes connections."""
    try:
        await rabbitmqctl("stop_app")
        yield
    finally:
        await rabbitmqctl("start_app", within=within)
        await rabbitmqctl("await_startup", within=within)
        await wait_for_port(BROKER_HOST, BROKER_PORT, within=within)
