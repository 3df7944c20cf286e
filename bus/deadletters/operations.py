"""Dead letters: list, inspect, replay and purge `<queue>.dlq` (and `{namespace}.unroutable`).

The tooling runs on any `Transport` (RabbitMQ, or the in-memory broker in tests): it
reads queues with the transport's depth and browse, which leave every message in place,
and deletes with its purge. A replay consumes the dead-letter queue, publishes each
chosen dead letter to where it failed - its origin queue through the default exchange,
or, for a parked command, its original exchange and routing key - waits for the
broker's confirm, and only then acknowledges the dead letter; the others go back to
their place. A crash in between leaves a copy in both places; the consumer's inbox
drops the second, because a replay keeps the message_id.

A replayed message starts a new count of attempts (`x-attempts` is removed, so the
endpoint's whole retry policy applies again) and carries `x-replays`, how often it was
replayed; the failure headers of its last death are dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bus.deadletters import registry
from bus.deadletters import republishing as deadletter
from bus.deadletters.dead_letter import (
    NO_ID,
    PARKED_AT,
    REPLAYS,
    DeadLetter,
    NotReplayable,
)
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import DLQ_SUFFIX, Names, Topology
from bus.wire.transport import (
    Delivery,
    NoSuchQueue,
    Outcome,
    Publication,
    Transport,
    WireMessage,
)

__all__ = ["NO_ID", "REPLAYS", "DeadLetter", "DeadLetterQueues", "NoSuchQueue",
           "NotReplayable", "Replay", "dead_letter_queues", "dlq_of", "replayed"]

REPLAYED_AT = "x-replayed-at"

FAILURE_HEADERS = frozenset({
    deadletter.ATTEMPTS, deadletter.REASON, deadletter.EXCEPTION_TYPE,
    deadletter.EXCEPTION_MESSAGE, deadletter.TRACEBACK, deadletter.FIRST_FAILURE,
    deadletter.LAST_FAILURE, deadletter.ORIGIN_QUEUE, PARKED_AT,
})  # fmt: skip
"""What a replay removes: the story of the last death (the origin stays known through
`x-original-exchange` / `x-original-routing-key`)."""


MAX_REPLAY = 65_535
"""Dead letters one replay of one queue looks at, at most (AMQP's largest prefetch)."""

DELIVERY_WAIT = 5.0
"""Seconds a replay waits for the next dead letter before it takes the queue as read."""


def replayed(message: WireMessage, now: datetime) -> WireMessage:
    """`message` as a replay sends it: same body, ids and properties, a fresh attempt
    count, the replay counted."""
    headers = {k: v for k, v in message.headers.items() if k not in FAILURE_HEADERS}
    previous = message.headers.get(REPLAYS, 0)
    count = previous if isinstance(previous, int) and not isinstance(previous, bool) else 0
    headers[REPLAYS] = count + 1
    headers[REPLAYED_AT] = now.isoformat()
    return replace(message, headers=headers)


def dead_letter_queues(names: Names, topology: Topology) -> list[str]:
    """The DLQs of `topology`'s endpoints, then the namespace's unroutable queue."""
    dlqs = [q.name for q in topology.queues if q.name.endswith(DLQ_SUFFIX)]
    return [*dlqs, names.unroutable]


def dlq_of(names: Names, queue: str) -> str:
    """The dead-letter queue meant by `queue`: a DLQ or the unroutable queue as named,
    else the DLQ of the queue (or endpoint) `queue`."""
    if queue.endswith(DLQ_SUFFIX) or queue == names.unroutable:
        return queue
    prefixed = queue if queue.startswith(f"{names.namespace}.") else names.queue(queue)
    return names.dlq(prefixed)


@dataclass(slots=True)
class Replay:
    """What a replay did: the dead letters sent back, and those kept with why."""

    replayed: list[DeadLetter] = field(default_factory=list)
    kept: list[tuple[DeadLetter, str]] = field(default_factory=list)


class DeadLetterQueues:
    """Reads and settles dead-letter queues through `transport`, or through a RabbitMQ
    connection of its own when given a URL (tooling, not the daemon; then
    connect_timeout: seconds to reach the broker). Use it as an async context manager."""

    def __init__(self, transport: Transport | str, *, connect_timeout: float = 5.0) -> None:
        self._owned = isinstance(transport, str)
        self._transport: Transport = (
            RabbitMQTransport(transport, connect_timeout=connect_timeout, name="sagabus-dlq")
            if isinstance(transport, str)
            else transport
        )

    def __repr__(self) -> str:
        return f"DeadLetterQueues({self._transport!r})"

    async def __aenter__(self) -> DeadLetterQueues:
        if self._owned:
            await self._transport.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._owned:
            await self._transport.close()

    async def queues(self, names: Names, known: Iterable[str] = ()) -> list[str]:
        """Every dead-letter queue of the namespace that exists: those the runtimes
        recorded when they declared them (`bus.deadletters.registry`), those in
        `known`, then the unroutable queue."""
        found = [q for q in dict.fromkeys([*await registry.recorded(self._transport, names),
                                           *known]) if q != names.unroutable]
        present = [q for q in found if await self._transport.depth(q) is not None]
        return [*sorted(present), names.unroutable]

    async def depth(self, queue: str) -> int | None:
        """Messages ready in `queue`, or None when it does not exist."""
        return await self._transport.depth(queue)

    async def consumers(self, queue: str) -> int | None:
        """Consumers attached to `queue`, or None when it does not exist."""
        return await self._transport.consumers(queue)

    async def browse(self, queue: str, limit: int = 1_000) -> list[DeadLetter]:
        """Up to `limit` dead letters of `queue`, oldest first, all left in place."""
        return [DeadLetter(queue, m) for m in await self._transport.browse(queue, limit)]

    async def find(self, message_id: str, queues: Sequence[str]) -> list[DeadLetter]:
        """Every dead letter with `message_id` in `queues` (copies included)."""
        found: list[DeadLetter] = []
        for queue in queues:
            if await self.depth(queue):
                found.extend(d for d in await self.browse(queue, limit=1_000_000)
                             if d.id == message_id)
        return found

    async def purge(self, queue: str) -> int:
        """Deletes every message of `queue`; returns how many there were."""
        return await self._transport.purge(queue)

    async def replay(
        self, queue: str, *, message_id: str | None = None, now: datetime | None = None
    ) -> Replay:
        """Replays the dead letters of `queue` (those with `message_id`, or all). At most
        the messages present at the start are looked at (and `MAX_REPLAY`), so one that
        dies again during the replay is not replayed twice."""
        present = await self._transport.depth(queue)
        if present is None:
            raise NoSuchQueue(f"queue {queue!r} does not exist")
        result = Replay()
        wanted = min(present, MAX_REPLAY)
        if not wanted:
            return result
        arrived: asyncio.Queue[Delivery] = asyncio.Queue()
        subscription = await self._transport.consume(queue, wanted, arrived.put_nowait)
        taken: list[Delivery] = []
        done: list[Delivery] = []
        try:
            for _ in range(wanted):
                try:
                    delivery = await asyncio.wait_for(arrived.get(), DELIVERY_WAIT)
                except TimeoutError:
                    break  # someone else emptied the queue meanwhile
                taken.append(delivery)
                dead = DeadLetter(queue, delivery.message)
                if message_id is not None and dead.id != message_id:
                    continue
                problem = await self._send_back(dead, now or datetime.now(UTC))
                if problem is None:
                    done.append(delivery)
                    result.replayed.append(dead)
                else:
                    result.kept.append((dead, problem))
        finally:
            await subscription.cancel()
            await subscription.ack(done)
            settled = {id(d) for d in done}
            back = [d for d in taken if id(d) not in settled]
            await subscription.requeue([*back, *_left(arrived)])
        return result

    async def _send_back(self, dead: DeadLetter, now: datetime) -> str | None:
        """Publishes the replay and waits for the confirm; the problem, or None."""
        try:
            exchange, routing_key = dead.destination()
        except NotReplayable as exc:
            return str(exc)
        publication = Publication(exchange, routing_key, replayed(dead.message, now),
                                  mandatory=True)
        [outcome] = await self._transport.publish([publication])
        if outcome is Outcome.CONFIRMED:
            return None
        what = "returned: no queue is bound for it" if outcome is Outcome.RETURNED else "refused"
        return f"the broker {what} ({exchange or 'default exchange'}/{routing_key})"


def _left(arrived: asyncio.Queue[Delivery]) -> Iterable[Delivery]:
    while not arrived.empty():
        yield arrived.get_nowait()

