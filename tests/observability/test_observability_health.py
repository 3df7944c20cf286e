"""`/healthz` and `/readyz`: alive while the process answers; ready only while the bus
runs, the broker is connected, the store answers and every consumer runs; with a store
and no bus, ready while the store answers. Served by uvicorn (bus/observability/probes.py,
web_server.py), without the console's templates.

One test stops RabbitMQ's app (`rabbitmqctl stop_app`), which every client of this
broker feels: it starts the app again in a `finally` block and waits for port 5672
before it returns, whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from observability_support import get
from support.broker import TestBroker
from support.broker_outage import broker_down

from bus import Command, HandlerContext, Service
from bus.errors import ConfigurationError
from bus.observability.metrics import Metrics
from bus.observability.probes import Probes, probe_app
from bus.observability.web_server import WebServer
from bus.settings import Settings
from bus.store import Store, open_store
from bus.unitofwork.runtime import Bus
from bus.wire.memory import InMemoryTransport


class ObPing(Command):
    n: int


pinger = Service("ob_pinger")


@pinger.handles(ObPing)
async def ping(cmd: ObPing, ctx: HandlerContext) -> None:
    """Does nothing: the endpoint only has to consume."""


def probe_server(probes: Probes) -> WebServer:
    """The probes alone, on any free port of 127.0.0.1."""
    return WebServer(probe_app(probes), host="127.0.0.1", port=0, name="probes")


async def ready(base: str) -> tuple[int, dict[str, object]]:
    status, body = await get(f"{base}/readyz")
    document: dict[str, object] = json.loads(body)
    return status, document


async def test_readyz_is_503_until_the_bus_runs_and_after_it_stops(
    settings: Settings, store: Store
) -> None:
    bus = Bus(settings, store, [pinger], transport=InMemoryTransport())
    probes = Probes()
    async with probe_server(probes) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert await get(f"{base}/healthz") == (200, b'{"status":"alive"}')
        status, document = await ready(base)
        assert (status, document["reason"]) == (503, "the bus is not running")
        probes.attach(bus)
        async with bus:
            status, document = await ready(base)
            assert status == 200, document
            assert document["checks"] == {
                "broker": "connected", "store": "reachable", "consumers": "1 of 1 running"
            }
        assert (await ready(base))[0] == 503
        assert (await get(f"{base}/metrics"))[0] == 404  # metrics off: health only


async def test_readyz_names_the_store_when_it_does_not_answer(settings: Settings) -> None:
    async with open_store(settings) as store:
        bus = Bus(settings, store, [pinger], transport=InMemoryTransport())
        async with probe_server(Probes(bus=bus)) as server, bus:
            base = f"http://127.0.0.1:{server.port}"
            await store.close()
            status, document = await ready(base)
            await store.open()  # the bus stops cleanly on an open store
    assert status == 503
    assert document["checks"]["store"] == "unreachable"  # type: ignore[index]
    assert "store" in str(document["reason"])


async def test_without_a_bus_readyz_judges_the_store_alone(settings: Settings) -> None:
    async with open_store(settings) as store, probe_server(Probes(store=store)) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert await ready(base) == (
            200, {"status": "ready", "checks": {"store": "reachable"}}
        )
        await store.close()
        status, document = await ready(base)
        await store.open()
    assert (status, document["checks"]) == (503, {"store": "unreachable"})
    assert str(document["reason"]).startswith("store: ")


async def test_the_probe_server_refuses_what_it_does_not_serve(settings: Settings) -> None:
    async with probe_server(Probes()) as server:
        base = f"http://127.0.0.1:{server.port}"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 405 ")
        writer.close()
        assert await get(f"{base}/console") == (
            404, b"not found: try /healthz, /readyz or /metrics\n"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /" + b"x" * 100_000 + b" HTTP/1.1\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 400 ")  # too long a head
        writer.close()


async def test_a_port_in_use_is_a_configuration_error() -> None:
    async with probe_server(Probes()) as server:
        taken = WebServer(probe_app(Probes()), host="127.0.0.1", port=server.port, name="x")
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{server.port}"):
            await taken.start()
        assert (await get(f"http://127.0.0.1:{server.port}/healthz"))[0] == 200


PROBES_WITHOUT_THE_CONSOLE = """
import asyncio, sys, urllib.request
sys.modules["jinja2"] = None  # the console extra is not installed: importing it fails
from bus.observability.metrics import Metrics
from bus.observability.probes import Probes, probe_app
from bus.observability.web_server import WebServer

async def main():
    metrics = Metrics()
    metrics.consumed("probe", None)
    async with WebServer(probe_app(Probes(metrics)), host="127.0.0.1", port=0,
                         name="probes") as server:
        for path in ("/healthz", "/readyz", "/metrics"):
            url = f"http://127.0.0.1:{server.port}{path}"
            try:
                status = await asyncio.to_thread(lambda: urllib.request.urlopen(url).status)
            except urllib.error.HTTPError as error:
                status = error.code
            print(path, status)
    console = [m for m, module in sys.modules.items()
               if m.startswith(("sagabus", "jinja2")) and module is not None]
    print("console modules", console)

asyncio.run(main())
"""


def test_the_probes_answer_without_the_console_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBES_WITHOUT_THE_CONSOLE], capture_output=True, text=True,
        timeout=60, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    answers = [line for line in result.stdout.splitlines() if line.startswith(("/", "console"))]
    assert answers == ["/healthz 200", "/readyz 503", "/metrics 200", "console modules []"]


async def test_metrics_are_served_when_on_and_refused_when_off() -> None:
    metrics = Metrics()
    metrics.consumed("probe", None)
    async with probe_server(Probes(metrics)) as on, probe_server(Probes()) as off:
        status, body = await get(f"http://127.0.0.1:{on.port}/metrics")
        assert status == 200
        assert 'sagabus_messages_consumed_total{endpoint="probe",type="unknown"} 1.0' in (
            body.decode()
        )
        assert await get(f"http://127.0.0.1:{off.port}/metrics") == (404, b"metrics are off\n")


# -- RabbitMQ's app stopped and started ---------------------------------------------------
@pytest.mark.integration
@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="rabbitmqctl is not installed")
async def test_readyz_is_503_while_rabbitmq_is_stopped_and_200_after(
    settings: Settings, store: Store, rabbitmq: TestBroker, eventually
) -> None:
    bus = Bus(settings, store, [pinger])
    rabbitmq.track(bus.topology())
    async with probe_server(Probes(bus=bus)) as server, bus:
        base = f"http://127.0.0.1:{server.port}"
        assert (await ready(base))[0] == 200
        async with broker_down():
            _, document = await eventually(
                lambda: _not_ready(base), timeout=30, what="/readyz 503 with the broker down"
            )
            assert document["checks"]["broker"] == "disconnected"  # type: ignore[index]
            assert "broker" in str(document["reason"])
            assert (await get(f"{base}/healthz"))[0] == 200  # alive all the same
        await eventually(lambda: _ready(base), timeout=60, what="/readyz 200 after start_app")


async def _not_ready(base: str) -> tuple[int, dict[str, object]] | None:
    status, document = await ready(base)
    return (status, document) if status == 503 else None


async def _ready(base: str) -> bool:
    return (await ready(base))[0] == 200
