"""The queues of the in-memory broker and their consumers: a queued message, a queue
with its bindings and ready messages, topic matching, and `InMemorySubscription`, the
consumer of one queue (see `bus.wire.memory` for the behaviour they model)."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import TYPE_CHECKING, Any

from bus.observability.logging import get_logger
from bus.wire.topology import Binding, ExchangeKind, QueueSpec
from bus.wire.transport import Delivery, WireMessage

if TYPE_CHECKING:
    from bus.wire.memory import InMemoryTransport

log = get_logger("sagabus.memory")

OnDelivery = Callable[[Delivery], None]


@dataclass(slots=True)
class QueuedMessage:
    seq: int
    message: WireMessage
    exchange: str
    routing_key: str
    redelivered: bool = False
    expires_at: float | None = None


@dataclass(slots=True)
class BrokerQueue:
    spec: QueueSpec
    bindings: set[Binding] = field(default_factory=set)
    ready: deque[QueuedMessage] = field(default_factory=deque)
    consumers: list[InMemorySubscription] = field(default_factory=list)
    unacked: int = 0
    turn: int = 0
    expiry: asyncio.TimerHandle | None = None

    @property
    def delays(self) -> bool:
        """A retry tier: its messages wait out their TTL, then go back."""
        return self.spec.message_ttl is not None and self.spec.dead_letter_to is not None


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on `.`, `*` is one word, `#` zero or more."""
    words = routing_key.split(".")
    # positions in `words` the pattern prefix read so far can end at
    positions = {0}
    for part in pattern.split("."):
        if part == "#":
            positions = set(range(min(positions), len(words) + 1)) if positions else set()
        else:
            positions = {
                p + 1 for p in positions if p < len(words) and part in ("*", words[p])
            }
        if not positions:
            return False
    return len(words) in positions


def binding_matches(kind: ExchangeKind, binding_key: str, routing_key: str) -> bool:
    if kind == "direct":
        return binding_key == routing_key
    return topic_matches(binding_key, routing_key)


def on_the_wire(message: WireMessage) -> WireMessage:
    """What a consumer gets back: headers copied (never shared with the publisher) and
    the timestamp in whole seconds of UTC, as AMQP carries it."""
    timestamp = message.timestamp
    if timestamp is not None:
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        timestamp = timestamp.astimezone(UTC).replace(microsecond=0)
    return replace(message, headers=copy.deepcopy(dict(message.headers)), timestamp=timestamp)


class InMemorySubscription:
    """A consumer of one queue: at most `prefetch` unsettled deliveries (0: no limit)."""

    def __init__(
        self,
        transport: InMemoryTransport,
        queue: str,
        prefetch: int,
        on_delivery: OnDelivery,
    ) -> None:
        self._transport = transport
        self._broker = transport.broker
        self.queue = queue
        self._prefetch = prefetch
        self._on_delivery = on_delivery
        self._outstanding: dict[int, QueuedMessage] = {}
        self._tags = itertools.count(1)
        self._generation = 0
        self._attached = False
        self._cancelled = False

    def __repr__(self) -> str:
        return f"InMemorySubscription({self.queue!r})"

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        taken = self._take(deliveries)
        if taken:
            self._broker._settled(self.queue, len(taken))
        self._forget_when_done()

    async def requeue(self, deliveries: Sequence[Delivery]) -> None:
        taken = self._take(deliveries)
        if taken:
            self._broker._requeue(self.queue, taken)
        self._forget_when_done()

    async def cancel(self) -> None:
        """Stops deliveries; unsettled ones stay with this consumer until they are
        settled or the connection closes."""
        self._cancelled = True
        if self._attached:
            self._broker._detach(self)
            self._attached = False
        self._forget_when_done()

    def _take(self, deliveries: Sequence[Delivery]) -> list[QueuedMessage]:
        taken = []
        for delivery in deliveries:
            token = delivery.token
            if not (isinstance(token, tuple) and token[0] is self and token[1] == self._generation):
                continue  # from a connection since lost, or not ours: the broker forgot it
            message = self._outstanding.pop(token[2], None)
            if message is not None:
                taken.append(message)
        return taken

    def _forget_when_done(self) -> None:
        if self._cancelled:
            self._transport._forget(self)

    def _has_room(self) -> bool:
        return self._attached and (
            self._prefetch <= 0 or len(self._outstanding) < self._prefetch
        )

    def _deliver(self, message: QueuedMessage) -> None:
        tag = next(self._tags)
        self._outstanding[tag] = message
        delivery = delivery_of(message, token=(self, self._generation, tag))
        try:
            self._on_delivery(delivery)
        except Exception as exc:
            log.error("delivery callback failed; the delivery stays unsettled",
                      queue=self.queue, error=repr(exc))

    def _attach(self) -> None:
        if self._cancelled or self._attached:
            return
        self._broker._attach(self)
        self._generation += 1
        self._attached = True

    def _detach(self) -> None:
        """The connection went away: unsettled deliveries return to the queue."""
        if self._attached:
            self._broker._detach(self)
        self._attached = False
        back, self._outstanding = list(self._outstanding.values()), {}
        if back:
            self._broker._requeue(self.queue, back)

    def _queue_deleted(self) -> None:
        self._attached = False
        self._cancelled = True
        self._outstanding = {}


def delivery_of(message: QueuedMessage, token: Any) -> Delivery:
    return Delivery(
        message=on_the_wire(message.message),
        exchange=message.exchange,
        routing_key=message.routing_key,
        redelivered=message.redelivered,
        token=token,
    )
