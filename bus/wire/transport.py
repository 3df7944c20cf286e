"""The transport protocol: what the bus needs from a broker, and nothing more.

Four operations: declare a `Topology`, publish a batch of messages and learn each
one's fate (broker confirms awaited together), consume a queue into a callback, and
settle deliveries (ack, or requeue). Four more look after a queue from outside, for
the operator tooling (`bus.deadletters.operations`) and the console: its depth, its
consumers, a browse that leaves every message in place, and a purge.
`bus.wire.rabbitmq` implements it on aio-pika; an in-memory transport implements it
for tests without a broker.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bus.errors import ConfigurationError
from bus.wire.envelope import CONTENT_TYPE, Envelope, decode
from bus.wire.topology import Topology


class NoSuchQueue(ConfigurationError):
    """A queue that does not exist on the broker."""


@dataclass(frozen=True, slots=True)
class WireMessage:
    """A message as the broker carries it: body, properties and headers."""

    body: bytes
    message_id: str | None
    type: str | None
    correlation_id: str | None = None
    timestamp: datetime | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    content_type: str | None = CONTENT_TYPE

    @classmethod
    def of(cls, envelope: Envelope) -> WireMessage:
        return cls(
            body=envelope.body(),
            message_id=envelope.message_id,
            type=envelope.type,
            correlation_id=envelope.correlation_id,
            timestamp=envelope.timestamp,
            headers=envelope.amqp_headers(),
        )

    def envelope(self, max_body_bytes: int = 1 << 20) -> Envelope:
        """Decodes the message; raises `PoisonMessage` when no retry could fix it."""
        return decode(
            max_body_bytes=max_body_bytes,
            body=self.body,
            message_id=self.message_id,
            type_=self.type,
            correlation_id=self.correlation_id,
            timestamp=self.timestamp,
            headers=self.headers,
        )


@dataclass(frozen=True, slots=True)
class Publication:
    """A message to publish. `mandatory`: the broker returns it when no queue is bound."""

    exchange: str
    routing_key: str
    message: WireMessage
    mandatory: bool = False


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"
    RETURNED = "returned"
    """Mandatory and unroutable: no queue is bound for it."""
    FAILED = "failed"
    """Nacked by the broker, or the connection went away before the confirm."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message received from a queue. `token` belongs to the transport (it knows
    which channel and delivery tag the delivery came with)."""

    message: WireMessage
    exchange: str
    routing_key: str
    redelivered: bool
    token: Any

    def envelope(self, max_body_bytes: int = 1 << 20) -> Envelope:
        """Decodes the delivery; raises `PoisonMessage` when no retry could fix it."""
        return self.message.envelope(max_body_bytes)


class Subscription(Protocol):
    """A running consumer of one queue."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledges these deliveries (they are done)."""

    async def requeue(self, deliveries: Sequence[Delivery]) -> None:
        """Gives these deliveries back to the queue, to be delivered again."""

    async def cancel(self) -> None:
        """Stops deliveries; unsettled ones return to the queue when the transport closes."""


class Transport(Protocol):
    async def connect(self) -> None:
        """Raises `BrokerUnavailable` when the broker cannot be reached."""

    async def close(self) -> None: ...

    async def declare(self, topology: Topology) -> None:
        """Declares exchanges, queues and bindings (idempotent; re-declared after a
        reconnect)."""

    async def publish(self, publications: Sequence[Publication]) -> list[Outcome]:
        """Publishes persistently and waits for every confirm; one outcome per input."""

    async def consume(
        self, queue: str, prefetch: int, on_delivery: Callable[[Delivery], None]
    ) -> Subscription:
        """Starts delivering `queue` to `on_delivery` with at most `prefetch` unsettled
        deliveries; survives reconnects."""

    async def depth(self, queue: str) -> int | None:
        """Messages ready in `queue` (not counting unacknowledged ones), or None when
        there is no such queue."""

    async def consumers(self, queue: str) -> int | None:
        """Consumers attached to `queue` (the bus's endpoints, any tool reading it), or
        None when there is no such queue."""

    async def browse(self, queue: str, limit: int) -> list[WireMessage]:
        """Up to `limit` ready messages of `queue`, oldest first, all left in place;
        raises `NoSuchQueue`."""

    async def purge(self, queue: str) -> int:
        """Deletes the ready messages of `queue`; returns how many; raises `NoSuchQueue`."""
