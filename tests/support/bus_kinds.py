"""One running bus as the bus-behaviour suite sees it, on either transport: the
in-memory one (`BusHarness`) or the real RabbitMQ (a `Bus` in this process). Both run
on the test's store and namespaced settings; the suite talks to them through the one
`Transport` protocol, so a behaviour is written once and checked on both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bus.settings import Settings
from bus.store import Store
from bus.testing import BusHarness
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import Bus
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from bus.wire.topology import Binding, Names, QueueSpec, Topology
from bus.wire.transport import Publication, Transport, WireMessage
from support.broker import TestBroker
from support.buses import BusFactory

TRANSPORT_KINDS = ["memory", "rabbitmq"]
Check = Callable[[], Any]
SETTLE_WITHIN = 15.0
"""Seconds a check may take to hold (retries wait out their delays on both)."""


class RunningBus:
    """What the suite needs of a running bus: its client, the store, a transport of the
    test's own on the same broker, and `settled` to wait for a check to hold."""

    def __init__(self, kind: str, bus: Bus, client: BusClient, transport: Transport,
                 store: Store, names: Names) -> None:
        self.kind = kind
        self.bus = bus
        self.client = client
        self.transport = transport
        self.store = store
        self.names = names
        self._probes = 0

    async def send(self, command: Any, **kwargs: Any) -> Envelope:
        return await self.client.send(command, **kwargs)

    async def publish_command(self, message: WireMessage, routing_key: str) -> None:
        """Publishes `message` as it is onto the commands exchange."""
        [outcome] = await self.transport.publish(
            [Publication(self.names.commands, routing_key, message)]
        )
        assert outcome.value == "confirmed", outcome

    async def settled(self, check: Check, what: str) -> Any:
        """The first truthy value of `check` (awaited when it is a coroutine)."""
        raise NotImplementedError

    async def probe_queue(self, *events: str) -> str:
        """A queue bound to `events`, nobody consuming it (read it with `messages`)."""
        self._probes += 1
        queue = f"{self.names.namespace}.probe{self._probes}"
        bindings = tuple(Binding(self.names.events, event) for event in events)
        await self._declare(Topology(queues=(QueueSpec(queue, bindings=bindings),)))
        return queue

    async def _declare(self, topology: Topology) -> None:
        await self.transport.declare(topology)

    async def messages(self, queue: str) -> list[WireMessage]:
        """What waits in `queue` now, left in place."""
        return await self.transport.browse(queue, 1000)

    async def state(self, namespace: str, key: str) -> dict[str, Any] | None:
        async with self.store.transaction() as tx:
            return await tx.state_get(namespace, key)

    async def outbox_sent(self) -> bool:
        """True when no outbox row is left unsent."""
        async with self.store.transaction() as tx:
            return await tx.outbox_backlog() == 0


class MemoryBus(RunningBus):
    def __init__(self, harness: BusHarness) -> None:
        super().__init__("memory", harness.bus, harness.client, harness.transport,
                         harness.store, harness.names)
        self.harness = harness

    async def settled(self, check: Check, what: str) -> Any:
        await self.harness.wait_idle(within=SETTLE_WITHIN)
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        assert value, f"the bus is idle but not {what} (value {value!r})"
        return value


class RabbitMQBus(RunningBus):
    def __init__(self, bus: Bus, client: BusClient, broker: TestBroker, store: Store,
                 eventually: Callable[..., Awaitable[Any]]) -> None:
        super().__init__("rabbitmq", bus, client, broker.transport, store, broker.names)
        self.broker = broker
        self._eventually = eventually

    async def settled(self, check: Check, what: str) -> Any:
        return await self._eventually(check, SETTLE_WITHIN, what=what)

    async def _declare(self, topology: Topology) -> None:
        await self.broker.declare(topology)

    async def publish_command(self, message: WireMessage, routing_key: str) -> None:
        if message.message_id is None:  # aiormq would give it one
            assert message.type is not None
            await self.broker.publish_without_message_id(
                self.names.commands, routing_key, message.body, message.type
            )
        else:
            await super().publish_command(message, routing_key)


@asynccontextmanager
async def memory_bus(
    endpoints: Sequence[Endpoint], settings: Settings, store: Store
) -> AsyncIterator[RunningBus]:
    """The in-memory bus; retry delays are waited out, as on RabbitMQ."""
    async with BusHarness(services=endpoints, store=store, settings=settings,
                          skip_delays=False) as harness:
        yield MemoryBus(harness)


@asynccontextmanager
async def rabbitmq_bus(
    endpoints: Sequence[Endpoint],
    make_bus: BusFactory,
    broker: TestBroker,
    settings: Settings,
    store: Store,
    eventually: Callable[..., Awaitable[Any]],
) -> AsyncIterator[RunningBus]:
    bus = await make_bus(endpoints)
    async with BusClient(settings) as client:
        yield RabbitMQBus(bus, client, broker, store, eventually)
