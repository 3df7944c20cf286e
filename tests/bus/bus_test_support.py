"""What the bus tests share besides fixtures: the test's own broker handle, probes,
and reading a service's state."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiormq.abc import ChannelFrame
from live_services import AMQP_URL, PG_URL, postgres_unreachable, rabbitmq_unreachable  # noqa: F401  (re-exported)
from pamqp import commands as spec
from pamqp.header import ContentHeader

from bus.store import Store
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
    """The test's own view of RabbitMQ: raw publishing, probes, reading queues, and
    deleting everything of the namespace afterwards."""

    __test__ = False

    def __init__(self, names: Names) -> None:
        self.names = names
        self.transport = RabbitMQTransport(AMQP_URL, name="sagabus-tests")
        self._tracked: list[Topology] = []
        self._subscriptions: list[Any] = []
        self._probes = 0

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
        everything = Topology()
        for topology in self._tracked:
            everything = everything + topology
        extra = Topology(queues=(QueueSpec(self.names.unroutable),))
        await self.transport.delete(everything + extra)
        await self.transport.close()

    async def probe(self, *, events: Sequence[str] = (), commands: Sequence[str] = ()) -> Probe:
        self._probes += 1
        queue = f"{self.names.namespace}.probe{self._probes}"
        bindings = tuple(
            [Binding(self.names.events, t) for t in events]
            + [Binding(self.names.commands, t) for t in commands]
        )
        await self.declare(Topology(queues=(QueueSpec(queue, bindings=bindings),)))
        probe = Probe(queue)
        subscription: Any = None

        def on_delivery(delivery: Delivery) -> None:
            probe.received.append(delivery)
            asyncio.get_running_loop().create_task(subscription.ack([delivery]))

        subscription = await self.transport.consume(queue, 100, on_delivery)
        self._subscriptions.append(subscription)
        return probe

    async def publish(self, exchange: str, routing_key: str, message: WireMessage) -> None:
        [outcome] = await self.transport.publish(
            [Publication(exchange, routing_key, message)]
        )
        assert outcome.value == "confirmed", outcome

    async def publish_without_message_id(
        self, exchange: str, routing_key: str, body: bytes, type_name: str
    ) -> None:
        """aiormq gives every message a message_id; this writes the frames itself."""
        connection = self.transport._connection
        assert connection is not None
        channel = await connection.channel(publisher_confirms=False)
        raw = await channel.get_underlay_channel()
        properties = spec.Basic.Properties(
            content_type="application/json", delivery_mode=2, message_type=type_name
        )
        frames: list[Any] = [
            spec.Basic.Publish(exchange=exchange, routing_key=routing_key),
            ContentHeader(properties=properties, body_size=len(body)),
            *raw._split_body(body),  # type: ignore[attr-defined]
        ]
        drained = asyncio.get_running_loop().create_future()
        await raw.write_queue.put(  # type: ignore[attr-defined]
            ChannelFrame.marshall(frames=frames, channel_number=raw.number, drain_future=drained)
        )
        await drained
        await channel.close()

    async def take_all(self, queue: str) -> list[Delivery]:
        """Empties `queue`, returning what was in it."""
        taken = []
        while (delivery := await self.transport.get(queue)) is not None:
            taken.append(delivery)
        return taken

    async def depth(self, queue: str) -> int:
        return await self.transport.queue_depth(queue)


async def state(store: Store, namespace: str, key: str) -> dict[str, Any] | None:
    async with store.transaction() as tx:
        return await tx.state_get(namespace, key)


async def backlog(store: Store, rows: int) -> bool:
    """True when `rows` outbox rows are unsent."""
    async with store.transaction() as tx:
        return await tx.outbox_backlog() == rows
