"""The RabbitMQ transport, on aio-pika (connections, channels, declarations) and the
aiormq channel beneath it (the publish and consume paths, where every call counts).

One connection per transport. Publishing goes through one channel in confirm mode;
each consumer has its own channel with its own prefetch. A supervisor task watches
the connection and every channel: when one is lost it rebuilds the connection with
backoff, re-declares what was declared and resumes every consumer. Deliveries from a
lost channel are never acknowledged on the new one (their tags mean nothing there);
the broker delivers them again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq.abc import AbstractChannel as RawChannel
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from bus.errors import BrokerUnavailable, ConfigurationError
from bus.observability.logging import get_logger
from bus.observability.redact import redact_text, redact_url
from bus.settings import check_amqp_url
from bus.wire import amqp_decoding, amqp_reader
from bus.wire.amqp_deliveries import ImmediateConsumer
from bus.wire.backoff import Backoff
from bus.wire.rabbitmq_messages import delivery_of, queue_arguments
from bus.wire.rabbitmq_publish import ConfirmedPublisher
from bus.wire.topology import Topology
from bus.wire.transport import Delivery, NoSuchQueue, Outcome, Publication, WireMessage

# pamqp raises inside the frame reader on some hostile headers, which drops the
# connection and redelivers the same message forever: decode them leniently instead.
amqp_decoding.install()

log = get_logger("sagabus.rabbitmq")


class RabbitMQTransport:
    """connect_timeout: seconds to reach the broker at start-up (then
    `BrokerUnavailable`). ready_timeout: how long a publish waits for a lost
    connection to come back before reporting FAILED. confirm_timeout: how long a
    publish waits for the broker's confirm. backoff: first and longest pause between
    reconnection attempts."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        ready_timeout: float = 10.0,
        confirm_timeout: float = 30.0,
        backoff: tuple[float, float] = (0.2, 5.0),
        name: str = "sagabus",
    ) -> None:
        check_amqp_url(url)
        self._url = url
        self._connect_timeout = connect_timeout
        self._ready_timeout = ready_timeout
        self._confirm_timeout = confirm_timeout
        self._backoff = backoff
        self._name = name
        self._connection: AbstractConnection | None = None
        self._publisher: ConfirmedPublisher | None = None
        self._topologies: list[Topology] = []
        self._subscriptions: list[RabbitMQSubscription] = []
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._generation = 0
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RabbitMQTransport({redact_url(self._url)!r})"

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def connect(self) -> None:
        try:
            await self._establish()
        except ConfigurationError:
            raise
        except Exception as exc:
            raise BrokerUnavailable(
                f"cannot connect to RabbitMQ at {redact_url(self._url)}: {_reason(exc)}"
            ) from None
        self._supervisor = asyncio.create_task(self._supervise(), name="rabbitmq-supervisor")

    async def close(self) -> None:
        self._closing = True
        self._ready.clear()
        self._lost.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await self._drop_connection()

    async def declare(self, topology: Topology) -> None:
        await self._wait_ready()
        assert self._connection is not None
        await self._declare(self._connection, topology)
        self._topologies.append(topology)

    async def delete(self, topology: Topology) -> None:
        """Deletes the queues and exchanges of `topology` (tests, tooling)."""
        channel = await self._channel()
        try:
            for queue in topology.queues:
                await channel.queue_delete(queue.name)
            for exchange in topology.exchanges:
                await channel.exchange_delete(exchange.name)
        finally:
            await channel.close()
        self._topologies = [t for t in self._topologies if t != topology]

    async def publish(self, publications: Sequence[Publication]) -> list[Outcome]:
        if not publications:
            return []
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), self._ready_timeout)
            except TimeoutError:
                return [Outcome.FAILED] * len(publications)
        publisher = self._publisher
        if publisher is None:
            return [Outcome.FAILED] * len(publications)
        outcomes, error = await publisher.publish(publications)
        failed = sum(1 for o in outcomes if o is Outcome.FAILED)
        if failed:
            log.warning(
                "publish failed", failed=failed, of=len(outcomes),
                error=_reason(error) if error is not None else "no confirm in time",
            )
        return outcomes

    async def consume(
        self, queue: str, prefetch: int, on_delivery: Callable[[Delivery], None]
    ) -> RabbitMQSubscription:
        subscription = RabbitMQSubscription(self, queue, prefetch, on_delivery)
        self._subscriptions.append(subscription)
        if self._connection is not None and self._ready.is_set():
            await subscription.attach(self._connection, self._watch())
        return subscription

    async def get(self, queue: str) -> Delivery | None:
        """Takes one message from `queue` with an automatic ack, or None when empty
        (dead-letter tooling and tests)."""
        channel = await self._channel()
        try:
            raw = await channel.get_underlay_channel()
            got = await raw.basic_get(queue, no_ack=True)
            if not isinstance(got.delivery, spec.Basic.GetOk):
                return None
            return delivery_of(got, token=None)
        finally:
            await channel.close()

    async def queue_depth(self, queue: str) -> int:
        """Messages ready in `queue` (not counting unacknowledged ones)."""
        depth = await self.depth(queue)
        if depth is None:
            raise NoSuchQueue(f"queue {queue!r} does not exist")
        return depth

    async def depth(self, queue: str) -> int | None:
        declared = await self._passive(queue)
        return None if declared is None else int(declared.message_count or 0)

    async def consumers(self, queue: str) -> int | None:
        declared = await self._passive(queue)
        return None if declared is None else int(declared.consumer_count or 0)

    async def _passive(self, queue: str) -> spec.Queue.DeclareOk | None:
        """The broker's answer to a passive declare of `queue` (its ready messages and
        consumers), or None when there is no such queue."""
        channel = await self._channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return None
        finally:
            if not channel.is_closed:
                await channel.close()
        return declared.declaration_result

    async def browse(self, queue: str, limit: int) -> list[WireMessage]:
        """RabbitMQ cannot read a queue without taking from it: the messages are taken
        unacknowledged and all given back when the channel closes (the broker puts
        requeued messages back in their place)."""
        found: list[WireMessage] = []
        async with self._queue_channel(queue) as raw:
            while len(found) < limit:
                got = await raw.basic_get(queue, no_ack=False)
                if not isinstance(got.delivery, spec.Basic.GetOk):
                    break
                found.append(delivery_of(got, token=None).message)
        return found

    async def purge(self, queue: str) -> int:
        async with self._queue_channel(queue) as raw:
            done = await raw.queue_purge(queue)
        return int(done.message_count or 0)

    @asynccontextmanager
    async def _queue_channel(self, queue: str) -> AsyncIterator[RawChannel]:
        """A fresh channel (its aiormq channel) for one operation on `queue`, closed
        after it; the broker's "no such queue", which closes the channel, becomes
        `NoSuchQueue`."""
        channel = await self._channel()
        try:
            yield await channel.get_underlay_channel()
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise NoSuchQueue(f"queue {queue!r} does not exist") from None
        finally:
            if not channel.is_closed:
                await channel.close()

    async def _channel(self) -> AbstractChannel:
        """A fresh channel for a one-off operation, once the connection is up."""
        await self._wait_ready()
        assert self._connection is not None
        return await self._connection.channel(publisher_confirms=False)

    async def _wait_ready(self) -> None:
        if self._ready.is_set():
            return
        try:
            await asyncio.wait_for(self._ready.wait(), self._ready_timeout)
        except TimeoutError:
            raise BrokerUnavailable(
                f"not connected to RabbitMQ at {redact_url(self._url)}"
            ) from None

    def _forget(self, subscription: RabbitMQSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    # -- connection lifecycle ----------------------------------------------------
    def _watch(self) -> Callable[[Any, Any], None]:
        """A close callback that reports a loss of the current connection only."""
        generation = self._generation

        def on_close(_: Any, exc: Any = None) -> None:
            if generation == self._generation and not self._closing:
                self._lost.set()

        return on_close

    async def _establish(self) -> None:
        self._generation += 1
        connection = await aio_pika.connect(
            self._url,
            timeout=self._connect_timeout,
            client_properties={"connection_name": self._name},
            connection_class=amqp_reader.connection_class(),
        )
        try:
            watch = self._watch()
            connection.close_callbacks.add(watch)
            for topology in self._topologies:
                await self._declare(connection, topology)
            channel = await connection.channel(publisher_confirms=True, on_return_raises=False)
            channel.close_callbacks.add(watch)
            raw = await channel.get_underlay_channel()
            assert isinstance(raw, aiormq.Channel)
            publisher = ConfirmedPublisher(raw, self._confirm_timeout)
            for subscription in self._subscriptions:
                await subscription.attach(connection, watch)
        except BaseException:
            await _quietly_close(connection)
            raise
        self._connection, self._publisher = connection, publisher
        self._lost.clear()
        self._ready.set()

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            if self._closing:
                return
            self._ready.clear()
            log.warning("connection to RabbitMQ lost, reconnecting", url=redact_url(self._url))
            await self._drop_connection()
            backoff = Backoff(*self._backoff)
            for attempt in itertools.count(1):
                if self._closing:
                    return
                try:
                    await self._establish()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    delay = backoff.failed()
                    log.warning(
                        "reconnect failed", attempt=attempt, retry_in=delay, error=_reason(exc)
                    )
                    await asyncio.sleep(delay)
                else:
                    log.info("reconnected to RabbitMQ", attempts=attempt)
                    break

    async def _drop_connection(self) -> None:
        connection, self._connection, self._publisher = self._connection, None, None
        for subscription in self._subscriptions:
            subscription.detach()
        if connection is not None:
            await _quietly_close(connection)

    async def _declare(self, connection: AbstractConnection, topology: Topology) -> None:
        # A declaration the broker refuses closes its channel: use a channel of its own.
        channel = await connection.channel(publisher_confirms=False)
        try:
            for exchange in topology.exchanges:
                await channel.declare_exchange(
                    exchange.name, aio_pika.ExchangeType(exchange.kind), durable=True
                )
            for queue_spec in topology.queues:
                queue = await channel.declare_queue(
                    queue_spec.name, durable=True, arguments=queue_arguments(queue_spec)
                )
                for binding in queue_spec.bindings:
                    await queue.bind(binding.exchange, binding.routing_key)
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise ConfigurationError(
                f"RabbitMQ refused a declaration: {_reason(exc)} (a queue or exchange of that"
                " name exists with other settings, e.g. another queue type; delete it or"
                " change the setting)"
            ) from None
        finally:
            if not channel.is_closed:
                await channel.close()


@dataclass(eq=False)
class RabbitMQSubscription:
    """A consumer of `queue` that follows its transport across reconnects: up to
    `prefetch` unacknowledged deliveries, each handed to `on_delivery`."""

    transport: RabbitMQTransport
    queue: str
    prefetch: int
    on_delivery: Callable[[Delivery], None]
    _channel: AbstractChannel | None = field(default=None, init=False, repr=False)
    _raw: RawChannel | None = field(default=None, init=False, repr=False)
    _consumer_tag: str | None = field(default=None, init=False, repr=False)
    _outstanding: set[int] = field(default_factory=set, init=False, repr=False)

    async def attach(
        self, connection: AbstractConnection, watch: Callable[[Any, Any], None]
    ) -> None:
        channel = await connection.channel(publisher_confirms=False)
        channel.close_callbacks.add(watch)
        await channel.set_qos(prefetch_count=self.prefetch)
        raw = await channel.get_underlay_channel()
        # the broker cancels a consumer whose queue was deleted: rebuilding the
        # connection declares the queue again and resumes
        raw.on_consumer_cancel_callbacks.add(lambda _: watch(None, None))
        self._channel, self._raw, self._outstanding = channel, raw, set()
        ok = await raw.basic_consume(self.queue, ImmediateConsumer(self._deliver), no_ack=False)
        self._consumer_tag = ok.consumer_tag

    def detach(self) -> None:
        self._channel = self._raw = None
        self._consumer_tag = None
        self._outstanding = set()

    def _deliver(self, message: DeliveredMessage) -> None:
        tag = message.delivery_tag
        if tag is None or message.channel is not self._raw:
            return
        self._outstanding.add(tag)
        self.on_delivery(delivery_of(message, token=(message.channel, tag)))

    def _current_tags(self, deliveries: Sequence[Delivery]) -> list[int]:
        """Tags of the deliveries still unsettled on the current channel (a tag from a
        lost channel, or one settled already, must never reach the broker)."""
        raw = self._raw
        if raw is None or raw.is_closed:
            return []
        return sorted(
            d.token[1]
            for d in deliveries
            if d.token is not None and d.token[0] is raw and d.token[1] in self._outstanding
        )

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        raw, tags = self._raw, self._current_tags(deliveries)
        if raw is None or not tags:
            return
        highest = tags[-1]
        covered = set(tags)
        try:
            if all(t in covered for t in self._outstanding if t <= highest):
                await raw.basic_ack(highest, multiple=True)
            else:
                for tag in tags:
                    await raw.basic_ack(tag)
        except aiormq.exceptions.AMQPError as exc:
            log.warning("ack failed; the broker will deliver again", error=_reason(exc))
            return
        self._outstanding.difference_update(covered)

    async def requeue(self, deliveries: Sequence[Delivery]) -> None:
        raw, tags = self._raw, self._current_tags(deliveries)
        if raw is None:
            return
        try:
            for tag in tags:
                await raw.basic_nack(tag, multiple=False, requeue=True)
        except aiormq.exceptions.AMQPError as exc:
            log.warning("requeue failed; the broker will deliver again", error=_reason(exc))
            return
        self._outstanding.difference_update(tags)

    async def cancel(self) -> None:
        self.transport._forget(self)
        raw, tag = self._raw, self._consumer_tag
        if raw is not None and tag is not None and not raw.is_closed:
            try:
                await raw.basic_cancel(tag)
            except aiormq.exceptions.AMQPError as exc:
                log.debug("cancel failed", error=_reason(exc))
        self._consumer_tag = None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact_text(f"{text}")


async def _quietly_close(connection: AbstractConnection) -> None:
    try:
        await connection.close()
    except Exception as exc:
        log.debug("closing a broken connection failed", error=_reason(exc))
