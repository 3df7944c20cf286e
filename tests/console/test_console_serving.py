"""`sagabus console` serving a store over HTTP, and the dead-letter page on the real
RabbitMQ."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import aio_pika
import httpx
import pytest
from console_support import (
    ROOT,
    SAGAS,
    console_client,
    console_process,
    free_port,
    order_machines,
    record,
    write,
)
from live_services import AMQP_URL, rabbitmq_unreachable
from prometheus_client import CONTENT_TYPE_LATEST

from bus.store import Store, namespace_url, open_store
from sagabus.console.dead_letters import BrokerDeadLetters


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`sagabus console` on a fresh SQLite store: (base URL, store URL)."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    asyncio.run(_seed(url))
    port = free_port()
    command = ["console", "--sagas", str(SAGAS), "--port", str(port), "--no-dead-letters"]
    with console_process(command, port, {"SAGABUS_STORE": url}):
        yield f"http://127.0.0.1:{port}", url


async def _seed(url: str) -> None:
    async with open_store(url) as store:
        await write(store, record(1), record(2, status="parked", reason="stuck"))


def test_sagabus_console_serves_the_store_on_localhost(served: tuple[str, str]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=10) as client:
        overview = client.get("/")
        parked = client.get("/instances", params={"status": "parked"})
        one = client.get("/instances/inst-0001")
    assert overview.status_code == 200 and "order_processing" in overview.text
    assert "1 parked" in overview.text
    assert "inst-0002" in parked.text and "inst-0001" not in parked.text
    assert one.status_code == 200 and "awaiting_payment" in one.text


def test_sagabus_console_answers_the_probes_it_can(served: tuple[str, str]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=10) as client:
        alive, ready, metrics = (client.get(p) for p in ("/healthz", "/readyz", "/metrics"))
    assert alive.json() == {"status": "alive"}
    # no bus: ready while its store answers; no metrics to serve
    assert (ready.status_code, ready.json()) == (
        200, {"status": "ready", "checks": {"store": "reachable"}}
    )
    assert (metrics.status_code, metrics.text) == (404, "metrics are off\n")


@pytest.fixture
async def dead_letter_queue() -> AsyncIterator[tuple[str, aio_pika.abc.AbstractChannel]]:
    reason = await rabbitmq_unreachable()
    if reason is not None:
        pytest.skip(reason)
    name = f"console_{uuid.uuid4().hex[:8]}.payments.dlq"
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, durable=False, auto_delete=False)
        yield name, channel
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def test_the_dead_letter_page_groups_a_real_queue_by_reason_and_leaves_it(
    store: Store, dead_letter_queue: tuple[str, aio_pika.abc.AbstractChannel]
) -> None:
    name, channel = dead_letter_queue
    reasons = ["card declined <script>x</script>", "card declined <script>x</script>", "timeout"]
    for n, why in enumerate(reasons):
        message = aio_pika.Message(
            b'{"order_id": "o-%d"}' % n,
            message_id=f"m-{n}",
            type="ProcessPayment",
            headers={"x-reason": why, "x-attempts": 3},
        )
        await channel.default_exchange.publish(message, routing_key=name)
    source = BrokerDeadLetters(AMQP_URL, [name, f"{name}.missing"], [f"{name}.nothing"])
    async with console_client(store, order_machines(), dead_letters=source) as client:
        page = await client.get("/dead-letters")
        again = await client.get("/dead-letters")
    assert page.status_code == 200
    assert f"{name} <small>3 message(s)" in page.text
    assert "card declined &lt;script&gt;x&lt;/script&gt;</td><td>2</td>" in page.text
    assert "timeout</td><td>1</td>" in page.text
    assert "(no such queue)" in page.text
    assert f'<td>{name}.nothing</td><td colspan="3">(no such queue)</td>' in page.text
    assert "<script>x" not in page.text
    assert "3 message(s)" in again.text  # browsing gave every message back


async def test_without_a_broker_the_dead_letter_page_says_so(store: Store) -> None:
    async with console_client(store, order_machines()) as client:
        page = await client.get("/dead-letters")
    assert page.status_code == 200 and "started without a broker" in page.text


async def delete_namespace(namespace: str) -> None:
    """Deletes every exchange and queue the daemon of `namespace` declared."""
    from bus.daemon import import_package, services_in
    from bus.unitofwork.runtime import bus_topology
    from bus.wire.topology import Names
    from saga_dsl.engine.wiring import saga_runtime

    names = Names(namespace)
    endpoints = [*services_in(import_package("handlers")), *saga_runtime(SAGAS).endpoints]
    topology = bus_topology(names, endpoints, "quorum")
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        for queue in topology.queues:
            await channel.queue_delete(queue.name)
        for exchange in topology.exchanges:
            await channel.exchange_delete(exchange.name)
    finally:
        await connection.close()


@contextmanager
def daemon(tmp_path: Path, console: int, *ports: str) -> Iterator[str]:
    """`sagabus run` of the example project serving the console on `console`, with the
    more port options `ports`, on a store
    seeded with two orders (one parked), in a namespace of its own: yields the
    namespace; stops the daemon (it must exit 0) and deletes its queues afterwards."""
    reason = asyncio.run(rabbitmq_unreachable())
    if reason is not None:
        pytest.skip(reason)
    namespace = f"console-{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{tmp_path / 'daemon.db'}"
    asyncio.run(_seed(namespace_url(url, namespace)))  # where the daemon looks
    env = {"SAGABUS_STORE": url, "SAGABUS_AMQP_URL": AMQP_URL, "SAGABUS_NAMESPACE": namespace}
    command = ["run", "--handlers", "handlers", "--sagas", str(SAGAS),
               "--console-port", str(console), *ports]  # fmt: skip
    try:
        with console_process(command, console, env, within=60) as process:
            yield namespace
            process.terminate()
            assert process.wait(timeout=30) == 0
    finally:
        asyncio.run(delete_namespace(namespace))


def probed(base: str, within: float = 30) -> dict[str, httpx.Response]:
    """/healthz, /readyz and /metrics of `base` once the daemon is ready and has sampled
    its store (the parked order is counted)."""
    deadline = time.monotonic() + within
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            answers = {path: client.get(path) for path in ("/healthz", "/readyz", "/metrics")}
            if answers["/readyz"].status_code == 200 and PARKED_SAMPLE in answers["/metrics"].text:
                return answers
            if time.monotonic() > deadline:
                pytest.fail(f"{base} not ready and sampled within {within}s: "
                            f"{answers['/readyz'].text}")
            time.sleep(0.2)


PARKED_SAMPLE = 'sagabus_saga_instances_parked{saga="order_processing"} 1.0'


def assert_probes(answers: dict[str, httpx.Response]) -> None:
    assert answers["/healthz"].json() == {"status": "alive"}
    checks = answers["/readyz"].json()["checks"]
    assert checks["broker"] == "connected" and checks["store"] == "reachable"
    assert answers["/metrics"].headers["content-type"] == CONTENT_TYPE_LATEST
    assert "# TYPE sagabus_messages_handled_total counter" in answers["/metrics"].text


def test_the_daemon_serves_the_console_and_its_probes_beside_its_endpoints(
    tmp_path: Path,
) -> None:
    console, metrics = free_port(), free_port()
    with daemon(tmp_path, console, "--metrics-port", str(metrics)) as namespace:
        with httpx.Client(base_url=f"http://127.0.0.1:{console}", timeout=10) as client:
            overview = client.get("/")
            letters = client.get("/dead-letters")
        assert overview.status_code == 200
        assert "1 parked" in overview.text and "s_awaiting_payment" in overview.text
        assert letters.status_code == 200
        assert f"{namespace}.payments.dlq <small>0 message(s)" in letters.text
        assert f"<td>{namespace}.payments</td><td>0</td>" in letters.text
        # the console's port carries the probes; the metrics port serves them alone
        on_console = probed(f"http://127.0.0.1:{console}")
        assert_probes(on_console)
        assert on_console["/readyz"].headers["x-frame-options"] == "DENY"  # the console's
        on_metrics = probed(f"http://127.0.0.1:{metrics}")
        assert_probes(on_metrics)
        assert "x-frame-options" not in on_metrics["/readyz"].headers
        assert httpx.get(f"http://127.0.0.1:{metrics}/", timeout=10).status_code == 404
        consumed = f'<td>{namespace}.payments</td><td>0</td><td class="">1</td>'
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{console}", timeout=10) as client:
            while consumed not in client.get("/").text:  # the daemon's consumer, on the overview
                assert time.monotonic() < deadline, f"no consumer on {namespace}.payments"
                time.sleep(0.2)


def test_a_metrics_port_equal_to_the_console_port_is_one_server(tmp_path: Path) -> None:
    port = free_port()
    with daemon(tmp_path, port, "--metrics-port", str(port)):
        assert_probes(probed(f"http://127.0.0.1:{port}"))
        overview = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert overview.status_code == 200 and "1 parked" in overview.text


async def test_an_unreachable_broker_is_said_on_the_dead_letter_page(store: Store) -> None:
    port = free_port()  # nothing listens there
    source = BrokerDeadLetters(f"amqp://guest:secret-pw@127.0.0.1:{port}/", ["x.payments.dlq"])
    async with console_client(store, order_machines(), dead_letters=source) as client:
        page = await client.get("/dead-letters")
    assert page.status_code == 200
    assert "The broker could not be read" in page.text
    assert "secret-pw" not in page.text


def test_a_console_port_in_use_stops_the_daemon_at_start_saying_so(tmp_path: Path) -> None:
    env = {
        "SAGABUS_STORE": f"sqlite:///{tmp_path / 'daemon.db'}",
        "SAGABUS_AMQP_URL": AMQP_URL,
        "SAGABUS_NAMESPACE": f"console-{uuid.uuid4().hex[:8]}",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = ["run", "--handlers", "handlers", "--console-port", str(port)]
        result = subprocess.run(
            [sys.executable, "-m", "sagabus.cli", *command], cwd=ROOT, capture_output=True,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("SAGABUS_")}, **env},
            text=True, timeout=60,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stdout + result.stderr
    assert "guest" not in result.stdout + result.stderr
