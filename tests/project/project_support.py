"""Running `sagabus` as a user does: a process, in a directory of their own."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from support.daemons import exit_code, until_logged

REPO = Path(__file__).resolve().parents[2]
SAGABUS = [sys.executable, "-m", "sagabus"]
USER_PINGS = Path(__file__).with_name("user_pings.py")
"""A user's one-file service, which tests copy into their working directory."""


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no SAGABUS_* of the test run's, no PYTHONPATH
    pointing into the checkout's tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGABUS_")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


async def sagabus(
    *args: str, cwd: Path, env: dict[str, str], within: float = 120
) -> tuple[int, str, str]:
    """Runs `sagabus ARGS` in `cwd`; returns exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *SAGABUS, *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def start_daemon(
    args: list[str], cwd: Path, env: dict[str, str], log: Path, within: float = 30
) -> asyncio.subprocess.Process:
    """Starts `sagabus ARGS` and returns once its log says the bus started."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *SAGABUS, *args, cwd=cwd, env=env, stdout=out, stderr=out
        )
    await until_logged(process, log, within=within)
    return process


async def stop_daemon(process: asyncio.subprocess.Process, within: float = 30) -> int:
    """SIGTERM, then the exit code (killed after `within` seconds)."""
    if process.returncode is None:
        process.terminate()
    return await exit_code(process, within)


DELETE_TOPOLOGY = """
import asyncio
from bus.unitofwork.runtime import bus_topology
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names
from sagabus.daemon import assemble
from sagabus.project import open_project

project = open_project(services={services!r})
settings = project.bus_settings()
topology = bus_topology(
    Names(settings.namespace), assemble(project.config).endpoints, settings.queue_type
)

async def main():
    transport = RabbitMQTransport(settings.amqp_url)
    await transport.connect()
    try:
        await transport.delete(topology)
    finally:
        await transport.close()

asyncio.run(main())
"""


async def delete_topology(
    cwd: Path, env: dict[str, str], services: list[str] | None = None
) -> None:
    """Deletes the queues and exchanges the project in `cwd` declared (in a process of
    its own: the project's contracts stay out of the test run's registry)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DELETE_TOPOLOGY.format(services=services), cwd=cwd, env=env,
    )
    await asyncio.wait_for(process.wait(), 60)
