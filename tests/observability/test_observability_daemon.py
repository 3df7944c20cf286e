"""`sagabus run --metrics-port`: the daemon serves `/metrics`, `/healthz` and `/readyz`,
counts failures, retries and dead letters, and logs one line per handled message (at
debug) and per failure (as a warning or worse), each with the message's ids."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from ob_daemon_handlers import ObWork, work
from observability_support import get, scrape, total
from support.broker import TestBroker
from support.daemons import daemon_env

from bus import BusClient, Settings
from bus.unitofwork.runtime import bus_topology
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names
from bus.wire.transport import Publication, WireMessage

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
SAGABUS = str(Path(sys.executable).parent / "sagabus")


def text(log: Path) -> str:
    return log.read_text()


def log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in text(log).splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def served_port(log: Path, process: asyncio.subprocess.Process, within: float) -> int:
    """The port the daemon serves metrics on, once its bus has started."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        lines = log_lines(log)
        ports = [line["port"] for line in lines
                 if line["event"] == "http server listening" and line["serves"] == "probes"]
        if ports and any(line["event"] == "bus started" for line in lines):
            return int(ports[0])
        if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"daemon did not start (exit {process.returncode}):\n{text(log)}")
        await asyncio.sleep(0.05)


async def test_sagabus_run_serves_metrics_health_and_logs_each_message(
    settings: Settings, rabbitmq: TestBroker, tmp_path: Path, eventually
) -> None:
    names = Names(settings.namespace)
    rabbitmq.track(bus_topology(names, [work], settings.queue_type))
    log = tmp_path / "daemon.log"
    env = daemon_env(settings, HERE, SAGABUS_LOG_FORMAT="json", SAGABUS_LOG_LEVEL="debug")
    with log.open("wb") as out:
        daemon = await asyncio.create_subprocess_exec(
            SAGABUS, "run", "--handlers", "ob_daemon_handlers", "--metrics-port", "0",
            env=env, stdout=out, stderr=out, cwd=str(tmp_path),
        )
    try:
        port = await served_port(log, daemon, within=30)
        base = f"http://127.0.0.1:{port}"
        assert await get(f"{base}/healthz") == (200, b'{"status":"alive"}')
        await eventually(lambda: _status(f"{base}/readyz", 200), timeout=10, what="ready")

        async with BusClient(settings) as client:
            done = await client.send(ObWork(n=1), correlation_id="conversation-1")
            failing = await client.send(ObWork(n=2, fail=True), correlation_id="conversation-2")
        poison = uuid.uuid4().hex
        await _publish_raw(settings, names.queue(work.name), b"{not json", poison)

        async def counted() -> bool:
            s = await scrape(f"{base}/metrics")
            return (
                total(s, "sagabus_messages_handled_total", type="ObWorked", outcome="success")
                == 1
                and total(s, "sagabus_messages_dead_lettered_total") == 2
            )

        await eventually(counted, timeout=20, what="the work, its failures and the poison counted")
        s = await scrape(f"{base}/metrics")
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), 30) == 0, text(log)
    finally:
        if daemon.returncode is None:
            daemon.kill()
            await daemon.wait()

    endpoint = {"endpoint": "ob_work"}
    assert total(s, "sagabus_messages_handled_total", type="ObWork", outcome="success") == 1
    assert total(s, "sagabus_messages_handled_total", type="ObWork", outcome="failed") == 2
    assert total(s, "sagabus_messages_retried_total", type="ObWork", **endpoint) == 1
    assert total(s, "sagabus_messages_dead_lettered_total", reason="failed", type="ObWork") == 1
    # the poison's type label is not taken from untrusted input... unless it is one the
    # endpoint handles
    assert total(s, "sagabus_messages_dead_lettered_total", reason="poison", type="ObWork") == 1
    assert total(s, "sagabus_messages_consumed_total", **endpoint) == 5  # 1 + 2 + poison + event
    assert total(s, "sagabus_queue_depth", queue=names.dlq(names.queue(work.name))) in (0, 1, 2)

    lines = log_lines(log)
    [handled] = [line for line in lines
                 if line["event"] == "message handled" and line["type"] == "ObWork"]
    assert handled["level"] == "debug"
    assert handled["message_id"] == done.message_id
    assert handled["correlation_id"] == "conversation-1"
    [event] = [line for line in lines
               if line["event"] == "message handled" and line["type"] == "ObWorked"]
    assert event["causation_id"] == done.message_id  # caused by the command
    assert event["correlation_id"] == "conversation-1"
    failures = [line for line in lines if line.get("message_id") == failing.message_id
                and line["level"] in ("warning", "error")]
    assert [line["event"] for line in failures] == [
        "handler failed, retrying", "handler failed for the last time, dead-lettered"
    ]
    for line in failures:
        assert line["correlation_id"] == "conversation-2"
        assert "causation_id" in line
        assert "ObRefused" in line["error"]
    assert [line["level"] for line in lines if line.get("message_id") == poison] == ["warning"]


async def _status(url: str, wanted: int) -> bool:
    return (await get(url))[0] == wanted


async def _publish_raw(settings: Settings, queue: str, body: bytes, message_id: str) -> None:
    transport = RabbitMQTransport(settings.amqp_url, name="sagabus-tests")
    await transport.connect()
    try:
        message = WireMessage(body=body, message_id=message_id, type="ObWork")
        [outcome] = await transport.publish([Publication("", queue, message)])
        assert outcome.value == "confirmed"
    finally:
        await transport.close()
