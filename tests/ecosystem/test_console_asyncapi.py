"""The console a daemon serves (`sagabus run --console-port`) publishes the AsyncAPI
document of that daemon's services at /asyncapi.json."""

from __future__ import annotations

import socket

import httpx
import pytest
from eco_services import echo
from ecosystem_support import dangling_refs, schema_errors
from support.buses import BusFactory

from bus.settings import Settings
from bus.unitofwork.middleware import Middleware, WithMiddleware
from bus.unitofwork.scheduled import ScheduledSends
from sagabus.asyncapi import broker_host
from sagabus.console.serving import console_task

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_daemon_console_serves_its_asyncapi_document(
    make_bus: BusFactory, settings: Settings, eventually
) -> None:
    port = free_port()
    await make_bus(
        [WithMiddleware(echo, [Middleware()]), ScheduledSends()],
        background=[console_task(port)],
    )

    async def fetched() -> httpx.Response | None:
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                return await client.get(f"http://127.0.0.1:{port}/asyncapi.json")
            except httpx.TransportError:
                return None

    response = await eventually(fetched, timeout=20, what="the console answers")
    assert response.status_code == 200
    document = response.json()
    assert schema_errors(document) == []
    assert dangling_refs(document) == []
    assert "eco-echo.receive.EcoPing" in document["operations"]
    assert "sagabus-scheduler.receive.sagabus.ScheduleMessage" in document["operations"]
    channel = document["channels"]["commands.EcoPing"]["bindings"]["amqp"]["exchange"]
    assert channel["name"] == f"{settings.namespace}.commands"
    assert document["servers"]["rabbitmq"]["host"] == broker_host(settings.amqp_url)
    assert "guest" not in response.text


def test_the_broker_host_drops_credentials() -> None:
    assert broker_host("amqp://user:secret@mq.example:5673/vhost") == "mq.example:5673"
    assert broker_host("amqps://user:secret@mq.example/") == "mq.example:5671"
