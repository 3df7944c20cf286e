"""The in-memory transport: RabbitMQ's behaviour, as the bus relies on it, without a broker.

`InMemoryBroker` holds what a broker holds: exchanges, durable queues and their
bindings. It routes as RabbitMQ does: the default exchange by queue name, direct
exchanges by equal routing key, topic exchanges by pattern (`*` one word, `#` zero or
more); a message reaches each matching queue once; a `mandatory` publication no queue
takes comes back `RETURNED`; a publication to an exchange never declared `FAILED`s.
Each queue is FIFO. A queue with a message TTL and `dead_letter_to` (a retry tier)
dead-letters each message when its TTL runs out to that queue through the default
exchange, adding RabbitMQ's `x-death` headers; the expiry runs on the event loop's
timers, and `advance(seconds)` moves the broker's clock ahead so a test need not wait.
Every publication is kept in `journal`.

`InMemoryTransport` is one connection to a broker and implements `bus.wire.transport`'s
`Transport`: publish (confirms are immediate), consume with manual ack and requeue
(the delivery comes again with `redelivered` set) and at most `prefetch` unsettled
deliveries per consumer, round robin between the consumers of a queue; unsettled
deliveries go back to their queue when the connection closes. Several transports
(a bus and a client) share one broker, as processes share RabbitMQ. The queues and
their consumers (`InMemorySubscription`) are in `bus.wire.memory_queues`.

Not modelled: persistence beyond the process, clustering, the type rules of AMQP
header tables, and the timestamp property's sub-second part (dropped on the wire, as
AMQP carries whole seconds).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bus.errors import BrokerUnavailable, ConfigurationError
from bus.observability.logging import get_logger
from bus.wire.memory_queues import (
    BrokerQueue,
    InMemorySubscription,
    OnDelivery,
    QueuedMessage,
    binding_matches,
    delivery_of,
    on_the_wire,
    topic_matches,
)
from bus.wire.topology import DEFAULT_EXCHANGE, ExchangeKind, Topology
from bus.wire.transport import Delivery, NoSuchQueue, Outcome, Publication, WireMessage

__all__ = ["InMemoryBroker", "InMemorySubscription", "InMemoryTransport", "Routed",
           "topic_matches"]

log = get_logger("sagabus.memory")


@dataclass(frozen=True, slots=True)
class Routed:
    """One publication as the broker saw it: its outcome and the queues it reached."""

    publication: Publication
    outcome: Outcome
    queues: tuple[str, ...]


class InMemoryBroker:
    """Exchanges, queues and bindings in memory (see the module docstring). Shared by
    every `InMemoryTransport` made with it."""

    def __init__(self) -> None:
        self._exchanges: dict[str, ExchangeKind] = {}
        self._queues: dict[str, BrokerQueue] = {}
        self._seq = itertools.count(1)
        self._skipped = 0.0
        self._dispatching: set[str] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self.version = 0
        """Grows with every change of any queue (see `changed`)."""
        self.journal: list[Routed] = []
        """Every publication, in order, with its outcome."""

    # -- declarations ------------------------------------------------------------------
    def declare(self, topology: Topology) -> None:
        """Declares like RabbitMQ: idempotent, bindings added; a queue or exchange
        declared again with other settings raises `ConfigurationError`."""
        for exchange in topology.exchanges:
            known = self._exchanges.setdefault(exchange.name, exchange.kind)
            if known != exchange.kind:
                raise ConfigurationError(
                    f"exchange {exchange.name!r} exists as {known}, not {exchange.kind}"
                )
        for spec in topology.queues:
            for binding in spec.bindings:
                if binding.exchange not in self._exchanges:
                    raise ConfigurationError(
                        f"queue {spec.name!r} binds to exchange {binding.exchange!r},"
                        " which was never declared"
                    )
            queue = self._queues.get(spec.name)
            if queue is None:
                queue = self._queues[spec.name] = BrokerQueue(replace(spec, bindings=()))
            elif queue.spec != replace(spec, bindings=()):
                raise ConfigurationError(
                    f"queue {spec.name!r} exists with other settings ({queue.spec}); delete it"
                    " or change the setting"
                )
            queue.bindings.update(spec.bindings)

    def delete(self, topology: Topology) -> None:
        """Deletes the queues (with their messages) and exchanges of `topology`."""
        for spec in topology.queues:
            queue = self._queues.pop(spec.name, None)
            if queue is None:
                continue
            if queue.expiry is not None:
                queue.expiry.cancel()
            for consumer in queue.consumers:
                consumer._queue_deleted()
        for exchange in topology.exchanges:
            self._exchanges.pop(exchange.name, None)
            for queue in self._queues.values():
                queue.bindings = {b for b in queue.bindings if b.exchange != exchange.name}
        self._touch()

    # -- publishing ----------------------------------------------------------------------
    def publish(self, publications: Sequence[Publication]) -> list[Outcome]:
        """Routes each publication; one outcome per input, kept in `journal`."""
        outcomes = []
        for publication in publications:
            outcome, queues = self._route(publication)
            message = publication.message
            kept = replace(message, headers=copy.deepcopy(dict(message.headers)))
            self.journal.append(Routed(replace(publication, message=kept), outcome, queues))
            outcomes.append(outcome)
        return outcomes

    def _route(self, publication: Publication) -> tuple[Outcome, tuple[str, ...]]:
        exchange, key = publication.exchange, publication.routing_key
        targets: tuple[str, ...]
        if exchange == DEFAULT_EXCHANGE:
            targets = (key,) if key in self._queues else ()
        else:
            kind = self._exchanges.get(exchange)
            if kind is None:
                log.warning("publish to an exchange never declared", exchange=exchange)
                return Outcome.FAILED, ()
            targets = tuple(
                name
                for name, queue in self._queues.items()
                if any(b.exchange == exchange and binding_matches(kind, b.routing_key, key)
                       for b in queue.bindings)
            )
        if not targets:
            return (Outcome.RETURNED if publication.mandatory else Outcome.CONFIRMED), ()
        for name in targets:
            self._enqueue(name, publication.message, exchange, key)
        return Outcome.CONFIRMED, targets

    def _enqueue(self, name: str, message: WireMessage, exchange: str, key: str) -> None:
        queue = self._queues[name]
        ttl = queue.spec.message_ttl
        queue.ready.append(
            QueuedMessage(
                seq=next(self._seq),
                message=on_the_wire(message),
                exchange=exchange,
                routing_key=key,
                expires_at=None if ttl is None else self.now() + ttl,
            )
        )
        if ttl is not None and queue.expiry is None:
            self._arm_expiry(queue)
        self._schedule_dispatch(name)
        self._touch()

    # -- reading queues ------------------------------------------------------------------
    def get(self, queue: str) -> Delivery | None:
        """Takes the first ready message of `queue` with an automatic ack, or None."""
        q = self._queue(queue)
        if not q.ready:
            return None
        message = q.ready.popleft()
        self._touch()
        return delivery_of(message, token=None)

    def messages(self, queue: str) -> list[WireMessage]:
        """The ready messages of `queue`, first first, left where they are."""
        return [on_the_wire(m.message) for m in self._queue(queue).ready]

    def queue_depth(self, queue: str) -> int:
        """Messages ready in `queue` (not counting unacknowledged ones)."""
        return len(self._queue(queue).ready)

    def consumer_count(self, queue: str) -> int:
        """Consumers attached to `queue`."""
        return len(self._queue(queue).consumers)

    def unacked(self, queue: str) -> int:
        """Deliveries of `queue` handed to a consumer and not yet settled."""
        return self._queue(queue).unacked

    def queue_names(self) -> list[str]:
        return list(self._queues)

    def purge(self, queue: str) -> int:
        """Drops the ready messages of `queue`; returns how many."""
        q = self._queue(queue)
        count = len(q.ready)
        q.ready.clear()
        self._touch()
        return count

    def _queue(self, name: str) -> BrokerQueue:
        try:
            return self._queues[name]
        except KeyError:
            raise NoSuchQueue(f"no queue named {name!r} was declared") from None

    # -- quiescence (what a test harness waits for) ---------------------------------------
    @property
    def quiet(self) -> bool:
        """No consumed queue holds a ready message and no delivery is unsettled (retry
        tiers and queues nobody consumes do not count)."""
        return all(
            q.unacked == 0 and not (q.consumers and q.ready) for q in self._queues.values()
        )

    def delayed(self) -> int:
        """Messages waiting in retry tiers."""
        return sum(len(q.ready) for q in self._queues.values() if q.delays)

    def describe(self) -> str:
        """One line per queue that holds or owes something (for failure messages)."""
        lines = [
            f"{name}: {len(q.ready)} ready, {q.unacked} unacked, {len(q.consumers)} consumers"
            for name, q in self._queues.items()
            if q.ready or q.unacked
        ]
        return "; ".join(lines) or "every queue is empty"

    async def changed(self, since: int) -> None:
        """Returns once `version` differs from `since` (at once if it does already)."""
        if self.version != since:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _touch(self) -> None:
        self.version += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- the clock of message TTLs --------------------------------------------------------
    def now(self) -> float:
        """The broker's clock: the event loop's, plus every `advance`."""
        return asyncio.get_running_loop().time() + self._skipped

    def advance(self, seconds: float) -> int:
        """Moves the broker's clock `seconds` ahead: messages whose TTL runs out by then
        are dead-lettered now. Returns how many."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._skipped += seconds
        return sum(self._expire(name) for name in list(self._queues))

    def skip_to_next_expiry(self) -> int:
        """Moves the clock to the moment the next message of a retry tier expires (not
        backwards) and dead-letters what expires then. Returns how many."""
        due = [m.expires_at for q in self._queues.values() if q.delays for m in q.ready]
        known = [at for at in due if at is not None]
        if not known:
            return 0
        upto = min(known)
        self._skipped = max(self._skipped, upto - asyncio.get_running_loop().time())
        # `upto` itself, not the clock read back: float rounding must not leave it unexpired
        return sum(self._expire(name, upto) for name in list(self._queues))

    def _arm_expiry(self, queue: BrokerQueue) -> None:
        if queue.expiry is not None:
            queue.expiry.cancel()
            queue.expiry = None
        head = queue.ready[0] if queue.ready else None
        if head is None or head.expires_at is None:
            return
        loop = asyncio.get_running_loop()
        queue.expiry = loop.call_at(
            head.expires_at - self._skipped, self._expire, queue.spec.name
        )

    def _expire(self, name: str, upto: float | None = None) -> int:
        queue = self._queues.get(name)
        if queue is None:
            return 0
        if queue.expiry is not None:
            queue.expiry.cancel()
            queue.expiry = None
        now = self.now() if upto is None else max(self.now(), upto)
        expired = 0
        # one TTL per queue: messages expire in queue order, from the head
        while queue.ready and (at := queue.ready[0].expires_at) is not None and at <= now:
            self._dead_letter(queue, queue.ready.popleft(), "expired")
            expired += 1
        self._arm_expiry(queue)
        if expired:
            self._touch()
        return expired

    def _dead_letter(self, queue: BrokerQueue, message: QueuedMessage, reason: str) -> None:
        target = queue.spec.dead_letter_to
        if target is None or target not in self._queues:
            log.warning("dead letter dropped: no queue to take it", queue=queue.spec.name,
                        dead_letter_to=target)
            return
        headers = copy.deepcopy(dict(message.message.headers))
        at = datetime.now(UTC).replace(microsecond=0)
        deaths = [d for d in headers.get("x-death", []) if isinstance(d, dict)]
        entry = next(
            (d for d in deaths if d.get("queue") == queue.spec.name and d.get("reason") == reason),
            None,
        )
        if entry is None:
            entry = {
                "count": 0,
                "reason": reason,
                "queue": queue.spec.name,
                "exchange": message.exchange,
                "routing-keys": [message.routing_key],
            }
        else:
            deaths.remove(entry)
        entry["count"] = int(entry["count"]) + 1
        entry["time"] = at
        headers["x-death"] = [entry, *deaths]
        for key, value in (("exchange", message.exchange), ("queue", queue.spec.name),
                           ("reason", reason)):
            headers.setdefault(f"x-first-death-{key}", value)
            headers[f"x-last-death-{key}"] = value
        self._enqueue(target, replace(message.message, headers=headers), DEFAULT_EXCHANGE, target)

    # -- consumers -----------------------------------------------------------------------
    def _attach(self, consumer: InMemorySubscription) -> None:
        queue = self._queue(consumer.queue)
        queue.consumers.append(consumer)
        self._schedule_dispatch(consumer.queue)

    def _detach(self, consumer: InMemorySubscription) -> None:
        queue = self._queues.get(consumer.queue)
        if queue is not None and consumer in queue.consumers:
            queue.consumers.remove(consumer)
            self._touch()

    def _settled(self, name: str, count: int) -> None:
        queue = self._queues.get(name)
        if queue is not None:
            queue.unacked -= count
            self._schedule_dispatch(name)
        self._touch()

    def _requeue(self, name: str, messages: Sequence[QueuedMessage]) -> None:
        """Puts unsettled messages back where they were (ahead of later ones)."""
        queue = self._queues.get(name)
        if queue is None:
            return
        queue.unacked -= len(messages)
        for message in sorted(messages, key=lambda m: m.seq, reverse=True):
            message.redelivered = True
            queue.ready.appendleft(message)
        if queue.spec.message_ttl is not None:
            self._arm_expiry(queue)
        self._schedule_dispatch(name)
        self._touch()

    def _schedule_dispatch(self, name: str) -> None:
        # deliveries reach consumers from the loop, never inside the publisher's call
        if name not in self._dispatching:
            self._dispatching.add(name)
            asyncio.get_running_loop().call_soon(self._dispatch, name)

    def _dispatch(self, name: str) -> None:
        self._dispatching.discard(name)
        queue = self._queues.get(name)
        if queue is None:
            return
        delivered = False
        while queue.ready:
            ready = [c for c in queue.consumers if c._has_room()]
            if not ready:
                break
            consumer = ready[queue.turn % len(ready)]
            queue.turn += 1
            message = queue.ready.popleft()
            queue.unacked += 1
            delivered = True
            consumer._deliver(message)
        if delivered:
            if queue.spec.message_ttl is not None:
                self._arm_expiry(queue)
            self._touch()


class InMemoryTransport:
    """One connection to an `InMemoryBroker` (a new broker of its own when none is
    given); the `Transport` of `bus.wire.transport` without RabbitMQ."""

    def __init__(self, broker: InMemoryBroker | None = None) -> None:
        self.broker = broker or InMemoryBroker()
        self._connected = False
        self._subscriptions: list[InMemorySubscription] = []

    def __repr__(self) -> str:
        return "InMemoryTransport()"

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._connected = True
        for subscription in self._subscriptions:
            subscription._attach()

    async def close(self) -> None:
        """Closes the connection: consumers stop, unsettled deliveries go back."""
        self._connected = False
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription._detach()

    async def reconnect(self) -> None:
        """What a lost and re-established connection does: unsettled deliveries go back
        to their queues (delivered again, `redelivered` set), consumers resume, and
        settling a delivery from before the loss does nothing."""
        for subscription in self._subscriptions:
            subscription._detach()
        self._subscriptions = [s for s in self._subscriptions if not s._cancelled]
        await self.connect()

    async def declare(self, topology: Topology) -> None:
        self._check_connected()
        self.broker.declare(topology)

    async def delete(self, topology: Topology) -> None:
        """Deletes the queues and exchanges of `topology` (tests, tooling)."""
        self._check_connected()
        self.broker.delete(topology)

    async def publish(self, publications: Sequence[Publication]) -> list[Outcome]:
        if not self._connected:
            return [Outcome.FAILED] * len(publications)
        return self.broker.publish(publications)

    async def consume(
        self, queue: str, prefetch: int, on_delivery: OnDelivery
    ) -> InMemorySubscription:
        subscription = InMemorySubscription(self, queue, prefetch, on_delivery)
        if self._connected:
            subscription._attach()  # a queue never declared fails here, at once
        self._subscriptions.append(subscription)
        return subscription

    async def get(self, queue: str) -> Delivery | None:
        """Takes one message from `queue` with an automatic ack, or None when empty."""
        self._check_connected()
        return self.broker.get(queue)

    async def queue_depth(self, queue: str) -> int:
        """Messages ready in `queue` (not counting unacknowledged ones)."""
        self._check_connected()
        return self.broker.queue_depth(queue)

    async def depth(self, queue: str) -> int | None:
        self._check_connected()
        return self.broker.queue_depth(queue) if queue in self.broker.queue_names() else None

    async def consumers(self, queue: str) -> int | None:
        self._check_connected()
        return self.broker.consumer_count(queue) if queue in self.broker.queue_names() else None

    async def browse(self, queue: str, limit: int) -> list[WireMessage]:
        self._check_connected()
        return self.broker.messages(queue)[:limit]

    async def purge(self, queue: str) -> int:
        self._check_connected()
        return self.broker.purge(queue)

    def _check_connected(self) -> None:
        if not self._connected:
            raise BrokerUnavailable("the in-memory transport is not connected")

    def _forget(self, subscription: InMemorySubscription) -> None:
        if subscription in self._subscriptions and not subscription._outstanding:
            self._subscriptions.remove(subscription)
