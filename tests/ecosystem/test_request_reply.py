"""Request/reply from the client: the answering event, matched by ids, within a timeout."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import eco_services
import pytest
from eco_services import EcoPing, EcoPong, echo
from support.buses import BusFactory

from bus.settings import Settings
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from bus.wire.reply import NoReply

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


async def test_a_request_returns_the_event_that_answers_it(
    make_bus: BusFactory, settings: Settings
) -> None:
    await make_bus([echo])
    async with BusClient(settings) as client:
        reply = await client.request(EcoPing(n=7), reply=EcoPong, timeout=10)
    assert reply.type == "EcoPong"
    assert reply.payload == {"n": 7}
    assert reply.causation_id is not None


async def test_concurrent_requests_each_get_their_own_reply(
    make_bus: BusFactory, settings: Settings
) -> None:
    await make_bus([echo])
    async with BusClient(settings) as client:
        replies = await asyncio.gather(
            *(client.request(EcoPing(n=n), reply="EcoPong", timeout=10) for n in range(8))
        )
    assert [r.payload["n"] for r in replies] == list(range(8))


async def test_an_unanswered_request_times_out(
    make_bus: BusFactory, settings: Settings
) -> None:
    await make_bus([echo])
    async with BusClient(settings) as client:
        started = time.monotonic()
        with pytest.raises(NoReply, match="no EcoPong answered EcoPing"):
            await client.request(EcoPing(n=-1), reply=EcoPong, timeout=0.5)
        assert time.monotonic() - started < 5
        # the client still works after a timeout
        reply = await client.request(EcoPing(n=1), reply=EcoPong, timeout=10)
    assert reply.payload == {"n": 1}


def listening(client: BusClient) -> bool:
    """The client's request is registered and its reply queue bound."""
    return client._replies is not None and bool(client._replies._waiters)


async def answer_to(
    settings: Settings,
    eventually: Callable[..., Awaitable[Any]],
    ping: EcoPing,
    pong: EcoPong,
    **request: Any,
) -> Envelope:
    """The reply to a request `ping` (answered by no service) while another client
    publishes `pong`; `request` are `BusClient.request`'s options."""
    async with BusClient(settings) as client, BusClient(settings) as other:
        waiting = asyncio.create_task(client.request(ping, reply=EcoPong, **request))
        await eventually(lambda: listening(client), timeout=5)
        await other.publish(pong)
        return await waiting


async def test_another_conversation_s_event_is_not_a_reply(
    make_bus: BusFactory, settings: Settings, eventually
) -> None:
    await make_bus([echo])
    with pytest.raises(NoReply):
        await answer_to(settings, eventually, EcoPing(n=-2), EcoPong(n=-2), timeout=1.5)


async def test_where_matches_replies_by_payload_fields(
    make_bus: BusFactory, settings: Settings, eventually
) -> None:
    await make_bus([echo])
    reply = await answer_to(
        settings, eventually, EcoPing(n=-3), EcoPong(n=42), timeout=10, where={"n": 42}
    )
    assert reply.payload == {"n": 42}


async def test_sagabus_send_wait_for_prints_the_reply(
    make_bus: BusFactory, settings: Settings
) -> None:
    await make_bus([echo])
    env = {**os.environ, "PYTHONPATH": str(HERE), "SAGABUS_AMQP_URL": settings.amqp_url}

    def send(data: str, timeout: str) -> list[str]:
        return [
            sys.executable, "-m", "sagabus.cli", "send", "EcoPing", "--data", data,
            "--contracts", "eco_services", "--namespace", settings.namespace,
            "--wait-for", "EcoPong", "--timeout", timeout,
        ]

    answered = await asyncio.to_thread(
        subprocess.run, send('{"n": 5}', "20"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert answered.returncode == 0, answered.stderr
    assert "EcoPong" in answered.stdout and '"n": 5' in answered.stdout
    silent = await asyncio.to_thread(
        subprocess.run,
        send('{"n": -5}', "0.5"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert silent.returncode != 0
    assert "no EcoPong answered EcoPing" in silent.stderr
    assert eco_services.received
