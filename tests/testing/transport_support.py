"""What the transport tests share: messages, queues and a consumer that collects."""

from __future__ import annotations

import asyncio
from typing import Any

from bus.wire.topology import Binding, QueueSpec, Topology
from bus.wire.transport import Delivery, Subscription, Transport, WireMessage


def message(n: int | str, **headers: Any) -> WireMessage:
    return WireMessage(body=b"{}", message_id=f"m-{n}", type="T", headers=headers)


def queue(name: str, exchange: str, *keys: str, **settings: Any) -> Topology:
    bindings = tuple(Binding(exchange, key) for key in keys)
    return Topology(queues=(QueueSpec(name, bindings=bindings, **settings),))


class Consumer:
    """Collects deliveries; acks each one itself when `auto_ack`."""

    def __init__(self, auto_ack: bool = False) -> None:
        self.got: list[Delivery] = []
        self.auto_ack = auto_ack
        self._subscription: Subscription | None = None
        self._acks: set[asyncio.Task[None]] = set()

    @property
    def subscription(self) -> Subscription:
        assert self._subscription is not None
        return self._subscription

    @property
    def ids(self) -> list[str | None]:
        return [d.message.message_id for d in self.got]

    def __call__(self, delivery: Delivery) -> None:
        self.got.append(delivery)
        if self.auto_ack:
            task = asyncio.get_running_loop().create_task(self.subscription.ack([delivery]))
            self._acks.add(task)
            task.add_done_callback(self._acks.discard)


async def consume(
    transport: Transport, name: str, prefetch: int = 10, auto_ack: bool = False
) -> Consumer:
    consumer = Consumer(auto_ack)
    consumer._subscription = await transport.consume(name, prefetch, consumer)
    return consumer
