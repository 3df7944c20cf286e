"""The test's own handle on RabbitMQ: a connection of its own, probes, raw publishing,
reading queues, and deleting afterwards everything of the test's namespace that it
declared or tracked (the buses it ran)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiormq.abc import ChannelFrame
from live_services import AMQP_URL, rabbitmq_unreachable
from pamqp import commands as spec
from pamqp import frame as pamqp_frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from bus.deadletters.registry import registry_topology
from bus.unitofwork.endpoint import Endpoint
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Binding, Names, QueueSpec, Topology, exchanges
from bus.wire.transport import Delivery, Publication, WireMessage


class Probe:
    """A test queue bound to some types, collecting what arrives."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.received: list[Delivery] = []

    def of_type(self, type_name: str) -> list[Delivery]:
        return [d for d in self.received if d.message.type == type_name]


class TestBroker:
    """RabbitMQ as one test sees it (see the module docstring). `start` connects and
    declares the namespace's exchanges; `cleanup` deletes what was tracked, with the
    exchanges, the unroutable queue and the registry of dead-letter queues."""

    __test__ = False

    def __init__(self, names: Names) -> None:
        self.names = names
        self.transport_url = AMQP_URL
        """Where the broker is (for the daemons a test starts)."""
        self.transport = RabbitMQTransport(AMQP_URL, name="sagabus-tests")
        self._tracked: list[Topology] = []
        self._subscriptions: list[Any] = []
        self._probes = 0

    @property
    def tracked(self) -> Topology:
        """Everything `cleanup` deletes."""
        everything = exchanges(self.names) + Topology(
            queues=(QueueSpec(self.names.unroutable),)
        ) + registry_topology(self.names, "classic")
        for topology in self._tracked:
            everything = everything + topology
        return everything

    async def start(self) -> None:
        await self.transport.connect()
        await self.declare(exchanges(self.names))

    async def declare(self, topology: Topology) -> None:
        self.track(topology)
        await self.transport.declare(topology)

    def track(self, topology: Topology) -> None:
        self._tracked.append(topology)

    async def cleanup(self) -> None:
        for subscription in self._subscriptions:
            await subscription.cancel()
        if not self.transport.connected:
            await self.transport.connect()
        try:
            await self.transport.delete(self.tracked)
        finally:
            await self.transport.close()

    # -- probes --------------------------------------------------------------------------
    async def probe(self, *, events: Sequence[str] = (), commands: Sequence[str] = ()) -> Probe:
        """A queue bound to `events` and `commands`, consumed into a `Probe`."""
        queue = await self.probe_queue(*events, commands=commands)
        probe = Probe(queue)
        subscription: Any = None

        def on_delivery(delivery: Delivery) -> None:
            probe.received.append(delivery)
            asyncio.get_running_loop().create_task(subscription.ack([delivery]))

        subscription = await self.transport.consume(queue, 100, on_delivery)
        self._subscriptions.append(subscription)
        return probe

    async def probe_queue(self, *events: str, commands: Sequence[str] = ()) -> str:
        """A queue bound to `events` and `commands`, nobody consuming it; read it with
        `take_all`."""
        self._probes += 1
        queue = f"{self.names.namespace}.probe{self._probes}"
        bindings = tuple(
            [Binding(self.names.events, t) for t in events]
            + [Binding(self.names.commands, t) for t in commands]
        )
        await self.declare(Topology(queues=(QueueSpec(queue, bindings=bindings),)))
        return queue

    # -- reading queues ------------------------------------------------------------------
    async def take_all(self, queue: str) -> list[Delivery]:
        """Empties `queue`, returning what was in it."""
        taken = []
        while (delivery := await self.transport.get(queue)) is not None:
            taken.append(delivery)
        return taken

    async def depth(self, queue: str) -> int:
        return await self.transport.queue_depth(queue)

    async def dead_letters(self, endpoints: Sequence[Endpoint]) -> dict[str, int]:
        """Messages waiting in each endpoint's DLQ (only the non-empty ones)."""
        depths = {}
        for endpoint in endpoints:
            dlq = self.names.dlq(self.names.queue(endpoint.name))
            depths[dlq] = await self.transport.depth(dlq) or 0
        return {queue: depth for queue, depth in depths.items() if depth}

    # -- publishing ----------------------------------------------------------------------
    async def publish(self, exchange: str, routing_key: str, message: WireMessage) -> None:
        [outcome] = await self.transport.publish([Publication(exchange, routing_key, message)])
        assert outcome.value == "confirmed", outcome

    async def publish_without_message_id(
        self, exchange: str, routing_key: str, body: bytes, type_name: str
    ) -> None:
        """aiormq gives every message a message_id; this writes the frames itself."""
        properties = spec.Basic.Properties(
            content_type="application/json", delivery_mode=2, message_type=type_name
        )
        await publish_raw_frames(self.transport, exchange, routing_key, body, properties)


@asynccontextmanager
async def broker_for(names: Names) -> AsyncIterator[TestBroker]:
    """A started `TestBroker` for one test, cleaned up afterwards; the test is skipped,
    saying why, when RabbitMQ does not answer."""
    reason = await rabbitmq_unreachable()
    if reason:
        pytest.skip(reason)
    broker = TestBroker(names)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.cleanup()


async def publish_raw_frames(
    transport: RabbitMQTransport,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: spec.Basic.Properties,
    patch: tuple[bytes, bytes] | None = None,
) -> None:
    """Publishes one message by writing its frames, after replacing `patch[0]` with
    `patch[1]` in their bytes: properties no AMQP library would encode (invalid UTF-8
    in a short string, a timestamp past year 9999), as a foreign client might send."""

    def frames(channel: int) -> bytes:
        data = b"".join(
            pamqp_frame.marshal(f, channel)
            for f in (
                spec.Basic.Publish(exchange=exchange, routing_key=routing_key),
                ContentHeader(properties=properties, body_size=len(body)),
                ContentBody(body),
            )
        )
        if patch is None:
            return data
        old, new = patch
        assert len(old) == len(new) and data.count(old) == 1, "the patch must fit in place"
        return data.replace(old, new)

    await write_raw_frames(transport, frames)


async def write_raw_frames(transport: RabbitMQTransport, frames: Callable[[int], bytes]) -> None:
    """Writes the bytes `frames(channel number)` gives on a fresh channel of `transport`,
    as they are, and closes the channel once they are sent."""
    connection = transport._connection
    assert connection is not None
    channel = await connection.channel(publisher_confirms=False)
    raw = await channel.get_underlay_channel()
    drained = asyncio.get_running_loop().create_future()
    await raw.write_queue.put(  # type: ignore[attr-defined]
        ChannelFrame(payload=frames(raw.number), should_close=False, drain_future=drained)
    )
    await drained
    await channel.close()
