"""Dead letters: list, inspect, replay and purge `<queue>.dlq` (and `{namespace}.unroutable`).

RabbitMQ cannot read a queue without taking from it, so browsing takes messages
without acknowledging them and gives them all back when its channel closes (the broker
puts requeued messages back in their place). A replay publishes a dead letter to where
it failed - its origin queue through the default exchange, or, for a parked command,
its original exchange and routing key - waits for the broker's confirm, and only then
acknowledges the dead letter. A crash in between leaves a copy in both places; the
consumer's inbox drops the second, because a replay keeps the message_id.

A replayed message starts a new count of attempts (`x-attempts` is removed, so the
endpoint's whole retry policy applies again) and carries `x-replays`, how often it was
replayed; the failure headers of its last death are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from bus.deadletters import republishing as deadletter
from bus.errors import BrokerUnavailable, SagabusError
from bus.observability.redact import redact_text, redact_url
from bus.settings import check_amqp_url
from bus.wire.topology import DEFAULT_EXCHANGE, Names, Topology
from bus.wire.transport import WireMessage

REPLAYS = "x-replays"
"""How many times a message was replayed from a dead-letter queue."""
REPLAYED_AT = "x-replayed-at"
PARKED_AT = "x-parked-at"
"""Set by the outbox relay on a command parked in `{namespace}.unroutable`."""

FAILURE_HEADERS = frozenset({
    deadletter.ATTEMPTS, deadletter.REASON, deadletter.EXCEPTION_TYPE,
    deadletter.EXCEPTION_MESSAGE, deadletter.TRACEBACK, deadletter.FIRST_FAILURE,
    deadletter.LAST_FAILURE, deadletter.ORIGIN_QUEUE, PARKED_AT,
})  # fmt: skip
"""What a replay removes: the story of the last death (the origin stays known through
`x-original-exchange` / `x-original-routing-key`)."""

DLQ_SUFFIX = ".dlq"
PERSISTENT = 2

NO_ID = "-"
"""Shown for a dead letter without a message_id (such poison can be replayed with
`--all` only)."""


class NotReplayable(SagabusError):
    """A dead letter that says neither its origin queue nor where it was published."""


class NoSuchQueue(SagabusError):
    """A queue that does not exist on the broker."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message in a dead-letter queue: where it sits and what it carries."""

    queue: str
    message: WireMessage

    @property
    def id(self) -> str:
        return self.message.message_id or NO_ID

    @property
    def type(self) -> str:
        return self.message.type or "?"

    @property
    def reason(self) -> str:
        return _text(self.message.headers.get(deadletter.REASON)) or "(no reason given)"

    @property
    def attempts(self) -> int:
        value = self.message.headers.get(deadletter.ATTEMPTS, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def replays(self) -> int:
        value = self.message.headers.get(REPLAYS, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def died_at(self) -> datetime | None:
        """When it was dead-lettered (or parked), else when it was first published."""
        for name in (deadletter.LAST_FAILURE, PARKED_AT):
            moment = _instant(self.message.headers.get(name))
            if moment is not None:
                return moment
        return self.message.timestamp

    def age(self, now: datetime) -> float | None:
        """Seconds since `died_at`."""
        died = self.died_at
        return None if died is None else max(0.0, (now - died).total_seconds())

    def destination(self) -> tuple[str, str]:
        """(exchange, routing key) a replay publishes to; raises `NotReplayable`."""
        headers = self.message.headers
        origin = _text(headers.get(deadletter.ORIGIN_QUEUE))
        if origin:
            return DEFAULT_EXCHANGE, origin
        exchange = _text(headers.get(deadletter.ORIGINAL_EXCHANGE))
        key = _text(headers.get(deadletter.ORIGINAL_ROUTING_KEY))
        if exchange and key:
            return exchange, key
        raise NotReplayable(
            f"dead letter {self.id} in {self.queue} names no origin queue and no original"
            " exchange: it cannot be replayed"
        )


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
    """Reads and settles dead-letter queues on RabbitMQ at `url`; a connection of its
    own (tooling, not the daemon). connect_timeout: seconds to reach the broker."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        check_amqp_url(url)
        self._url = url
        self._connect_timeout = connect_timeout
        self._connection: AbstractConnection | None = None

    def __repr__(self) -> str:
        return f"DeadLetterQueues({redact_url(self._url)!r})"

    async def __aenter__(self) -> DeadLetterQueues:
        try:
            self._connection = await aio_pika.connect(
                self._url, timeout=self._connect_timeout,
                client_properties={"connection_name": "sagabus-dlq"},
            )
        except Exception as exc:
            raise BrokerUnavailable(
                f"cannot connect to RabbitMQ at {redact_url(self._url)}: {_reason(exc)}"
            ) from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def depth(self, queue: str) -> int | None:
        """Messages ready in `queue`, or None when it does not exist."""
        channel = await self._channel(confirms=False)
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return None
        finally:
            if not channel.is_closed:
                await channel.close()
        return int(declared.declaration_result.message_count or 0)

    async def browse(self, queue: str, limit: int = 1_000) -> list[DeadLetter]:
        """Up to `limit` dead letters of `queue`, oldest first, all left in place."""
        channel = await self._channel(confirms=False)
        try:
            source = await self._queue(channel, queue)
            found: list[DeadLetter] = []
            while len(found) < limit:
                got = await source.get(no_ack=False, fail=False)
                if got is None:
                    break
                found.append(DeadLetter(queue, _wire(got)))
            return found
        finally:
            # unacknowledged: closing the channel puts every one of them back
            if not channel.is_closed:
                await channel.close()

    async def find(self, message_id: str, queues: Sequence[str]) -> list[DeadLetter]:
        """Every dead letter with `message_id` in `queues` (copies included)."""
        found: list[DeadLetter] = []
        for queue in queues:
            if await self.depth(queue):
                found.extend(d for d in await self.browse(queue, limit=1_000_000)
                             if d.id == message_id)
        return found

    async def replay(
        self, queue: str, *, message_id: str | None = None, now: datetime | None = None
    ) -> Replay:
        """Replays the dead letters of `queue` (those with `message_id`, or all). At most
        the messages present at the start are looked at, so one that dies again during
        the replay is not replayed twice."""
        result = Replay()
        channel = await self._channel(confirms=True)
        try:
            source = await self._queue(channel, queue)
            present = int(source.declaration_result.message_count or 0)
            for _ in range(present):
                got = await source.get(no_ack=False, fail=False)
                if got is None:
                    break
                dead = DeadLetter(queue, _wire(got))
                if message_id is not None and dead.id != message_id:
                    continue
                problem = await self._send_back(channel, dead, now or datetime.now(UTC))
                if problem is None:
                    await got.ack()
                    result.replayed.append(dead)
                else:
                    result.kept.append((dead, problem))
        finally:
            if not channel.is_closed:
                await channel.close()
        return result

    async def purge(self, queue: str) -> int:
        """Deletes every message of `queue`; returns how many there were."""
        channel = await self._channel(confirms=False)
        try:
            source = await self._queue(channel, queue)
            done = await source.purge()
            return int(done.message_count or 0)
        finally:
            if not channel.is_closed:
                await channel.close()

    async def _send_back(
        self, channel: AbstractChannel, dead: DeadLetter, now: datetime
    ) -> str | None:
        """Publishes the replay and waits for the confirm; the problem, or None."""
        try:
            exchange_name, routing_key = dead.destination()
        except NotReplayable as exc:
            return str(exc)
        message = replayed(dead.message, now)
        exchange = (
            channel.default_exchange
            if exchange_name == DEFAULT_EXCHANGE
            else await channel.get_exchange(exchange_name, ensure=False)
        )
        try:
            await exchange.publish(_outgoing(message), routing_key, mandatory=True)
        except aio_pika.exceptions.DeliveryError as exc:
            what = "returned: no queue is bound for it" if exc.message else "refused"
            return f"the broker {what} ({exchange_name or 'default exchange'}/{routing_key})"
        except (TimeoutError, aiormq.exceptions.AMQPError) as exc:
            return f"publishing failed: {_reason(exc)}"
        return None

    async def _channel(self, *, confirms: bool) -> AbstractChannel:
        if self._connection is None:
            raise BrokerUnavailable("not connected: use `async with DeadLetterQueues(url)`")
        return await self._connection.channel(
            publisher_confirms=confirms, on_return_raises=confirms
        )

    @staticmethod
    async def _queue(channel: AbstractChannel, queue: str) -> aio_pika.abc.AbstractQueue:
        try:
            return await channel.declare_queue(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise NoSuchQueue(f"queue {queue!r} does not exist") from None


def _wire(message: AbstractIncomingMessage) -> WireMessage:
    timestamp = message.timestamp
    if timestamp is not None and timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return WireMessage(
        body=message.body,
        message_id=message.message_id,
        type=message.type,
        correlation_id=message.correlation_id,
        timestamp=timestamp,
        headers=dict(message.headers or {}),
        content_type=message.content_type,
    )


def _outgoing(message: WireMessage) -> aio_pika.Message:
    return aio_pika.Message(
        message.body,
        headers=dict(message.headers),
        content_type=message.content_type,
        delivery_mode=PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _reason(exc: BaseException) -> str:
    return redact_text(str(exc) or type(exc).__name__)
