"""The broker closes the transport's connection (Connection.Close, 320 CONNECTION_FORCED,
as at a broker shutdown) while the broker itself keeps running: the frame reader
hands the close to aiormq, the transport reconnects, the deliveries left
unacknowledged come again and new ones flow. `rabbitmqctl close_connection` closes
it; the broker is never stopped."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from live_services import AMQP_URL

from bus.wire import amqp_reader
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import QueueSpec, Topology
from bus.wire.transport import Delivery, Outcome, Publication, WireMessage

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rabbitmqctl") is None,
                       reason="rabbitmqctl (to close a connection from the broker) not here"),
]


def close_connection(name: str) -> None:
    """Closes, from the broker, the one connection named `name`."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    pids = [line.split("\t")[0] for line in listed.splitlines()
            if f'{{"connection_name","{name}"}}' in line]
    assert len(pids) == 1, listed
    subprocess.run(["rabbitmqctl", "close_connection", pids[0], "test"], check=True,
                   capture_output=True, timeout=120)


async def test_a_connection_the_broker_closes_is_rebuilt_and_delivers_again(
    eventually: Callable[..., Awaitable[Any]],
) -> None:
    name = f"test-forced-{uuid.uuid4().hex[:8]}"
    queue = f"{name}.q"
    transport = RabbitMQTransport(AMQP_URL, name=name)
    await transport.connect()
    topology = Topology(queues=(QueueSpec(queue),))
    got: list[Delivery] = []

    def publication(i: int) -> Publication:
        return Publication("", queue, WireMessage(body=b"{}", message_id=f"m{i}", type="T"))

    try:
        assert amqp_reader.available()
        connection = transport._connection.transport.connection  # type: ignore[union-attr]
        assert type(connection) is amqp_reader.SagabusConnection
        await transport.declare(topology)
        subscription = await transport.consume(queue, 50, got.append)
        assert await transport.publish([publication(i) for i in range(5)]) == [
            Outcome.CONFIRMED] * 5
        await eventually(lambda: len(got) == 5)
        await subscription.ack(got[:3])  # m3 and m4 stay unacknowledged
        lost = got[3:]
        got.clear()
        generation = transport._generation

        await asyncio.to_thread(close_connection, name)

        await eventually(lambda: transport._generation > generation and transport.connected, 30)
        await eventually(lambda: len(got) == 2)
        assert sorted(d.message.message_id or "" for d in got) == ["m3", "m4"]
        assert all(d.redelivered for d in got)
        assert await transport.publish([publication(i) for i in range(5, 8)]) == [
            Outcome.CONFIRMED] * 3
        await eventually(lambda: len(got) == 5)
        await subscription.ack(lost)  # tags of the lost channel: never sent
        await subscription.ack(got)
        assert await transport.queue_depth(queue) == 0
        await subscription.cancel()
    finally:
        await transport.delete(topology)
        await transport.close()
