"""The console a daemon serves (`sagabus run --console-port`) publishes the AsyncAPI
document of that daemon's services at /asyncapi.json."""

from __future__ import annotations

import httpx
import pytest
from eco_services import echo
from ecosystem_support import dangling_refs, schema_errors
from support.buses import BusFactory

from bus.observability.probes import Probes
from bus.observability.web_server import WebServer
from bus.settings import Settings
from bus.unitofwork.middleware import Middleware, WithMiddleware
from bus.unitofwork.scheduled import ScheduledSends
from sagabus.asyncapi import broker_host
from sagabus.console.serving import console_builder

pytestmark = pytest.mark.integration


async def test_the_daemon_console_serves_its_asyncapi_document(
    make_bus: BusFactory, settings: Settings
) -> None:
    bus = await make_bus([WithMiddleware(echo, [Middleware()]), ScheduledSends()])
    console = console_builder()(bus, Probes(bus=bus).routes())
    server = WebServer(console, host="127.0.0.1", port=0, name="console")
    async with server, httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/asyncapi.json")
        ready = await client.get(f"http://127.0.0.1:{server.port}/readyz")
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
    assert ready.json()["checks"]["consumers"] == "2 of 2 running"  # the daemon's probes


def test_the_broker_host_drops_credentials() -> None:
    assert broker_host("amqp://user:secret@mq.example:5673/vhost") == "mq.example:5673"
    assert broker_host("amqps://user:secret@mq.example/") == "mq.example:5671"
