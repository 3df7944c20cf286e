"""A `Transport` that forwards every call to another: the base of the test transports
that change one thing (publish twice, count deliveries) and leave the rest alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bus.wire.topology import Topology
from bus.wire.transport import (
    Delivery,
    Outcome,
    Publication,
    Subscription,
    Transport,
    WireMessage,
)


class ForwardingTransport:
    """Forwards to `inner`; override what the test changes."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def declare(self, topology: Topology) -> None:
        await self.inner.declare(topology)

    async def publish(self, publications: Sequence[Publication]) -> list[Outcome]:
        return await self.inner.publish(publications)

    async def consume(
        self, queue: str, prefetch: int, on_delivery: Callable[[Delivery], None]
    ) -> Subscription:
        return await self.inner.consume(queue, prefetch, on_delivery)

    async def depth(self, queue: str) -> int | None:
        return await self.inner.depth(queue)

    async def consumers(self, queue: str) -> int | None:
        return await self.inner.consumers(queue)

    async def browse(self, queue: str, limit: int) -> list[WireMessage]:
        return await self.inner.browse(queue, limit)

    async def purge(self, queue: str) -> int:
        return await self.inner.purge(queue)
