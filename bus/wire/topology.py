"""What the bus declares on the broker, as plain data (DESIGN section 3).

`{namespace}.commands` (direct) and `{namespace}.events` (topic) exchanges; per
endpoint a durable queue bound to its types, a dead-letter queue `<queue>.dlq` and one
retry queue per delay tier, `<queue>.retry.<delay>`, whose messages expire back into
the origin queue. Transports turn this description into declarations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from bus.durations import format_duration
from bus.settings import QueueType
from bus.settings_names import DEFAULT_NAMESPACE
from bus.unitofwork.retry import RetryPolicy
from bus.wire.envelope import Envelope

ExchangeKind = Literal["direct", "topic"]

DEFAULT_EXCHANGE = ""
"""The broker's default exchange: routing key = queue name."""


DLQ_SUFFIX = ".dlq"
"""The end of a dead-letter queue's name: `<queue>.dlq`."""


@dataclass(frozen=True, slots=True)
class Names:
    """The names of everything on the broker for one namespace."""

    namespace: str = DEFAULT_NAMESPACE

    @property
    def commands(self) -> str:
        return f"{self.namespace}.commands"

    @property
    def events(self) -> str:
        return f"{self.namespace}.events"

    @property
    def unroutable(self) -> str:
        """Where the outbox relay parks commands that no queue was bound for."""
        return f"{self.namespace}.unroutable"

    def queue(self, endpoint: str) -> str:
        if self.namespace == DEFAULT_NAMESPACE:
            return endpoint
        return f"{self.namespace}.{endpoint}"

    @staticmethod
    def dlq(queue: str) -> str:
        return f"{queue}{DLQ_SUFFIX}"

    @staticmethod
    def is_dlq(queue: str) -> bool:
        return queue.endswith(DLQ_SUFFIX)

    @staticmethod
    def retry(queue: str, delay: float) -> str:
        return f"{queue}.retry.{format_duration(delay)}"

    def route(self, envelope: Envelope) -> tuple[str, str, bool]:
        """(exchange, routing key, mandatory) of an envelope: commands must reach a
        queue, events may have no subscriber."""
        if envelope.kind == "command":
            return self.commands, envelope.type, True
        return self.events, envelope.type, False


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    name: str
    kind: ExchangeKind


@dataclass(frozen=True, slots=True)
class Binding:
    exchange: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A durable queue. `message_ttl` (seconds) and `dead_letter_to` (a queue, reached
    through the default exchange) make it a retry tier. `expires` (seconds): the broker
    deletes the queue once it has had no consumer that long (a client's reply queue)."""

    name: str
    queue_type: QueueType = "classic"
    bindings: tuple[Binding, ...] = ()
    message_ttl: float | None = None
    dead_letter_to: str | None = None
    expires: float | None = None


@dataclass(frozen=True, slots=True)
class Topology:
    exchanges: tuple[ExchangeSpec, ...] = ()
    queues: tuple[QueueSpec, ...] = field(default=())

    def __add__(self, other: Topology) -> Topology:
        exchanges = dict.fromkeys((*self.exchanges, *other.exchanges))
        queues = {q.name: q for q in (*self.queues, *other.queues)}
        return Topology(tuple(exchanges), tuple(queues.values()))


def exchanges(names: Names) -> Topology:
    """The two exchanges, all a client needs."""
    return Topology(
        exchanges=(ExchangeSpec(names.commands, "direct"), ExchangeSpec(names.events, "topic"))
    )


def endpoint_queues(
    names: Names,
    endpoint: str,
    *,
    commands: Iterable[str],
    events: Iterable[str],
    retry: RetryPolicy,
    queue_type: QueueType,
) -> Topology:
    """The queue of an endpoint with its bindings, its DLQ and its retry tiers."""
    queue = names.queue(endpoint)
    bindings = tuple(
        [Binding(names.commands, t) for t in sorted(commands)]
        + [Binding(names.events, t) for t in sorted(events)]
    )
    specs = [
        QueueSpec(queue, queue_type, bindings),
        QueueSpec(names.dlq(queue), queue_type),
        *(
            QueueSpec(names.retry(queue, delay), queue_type, message_ttl=delay,
                      dead_letter_to=queue)
            for delay in retry.tiers
        ),
    ]
    return Topology(queues=tuple(specs))


def unroutable_queue(names: Names, queue_type: QueueType) -> Topology:
    return Topology(queues=(QueueSpec(names.unroutable, queue_type),))
