"""Request/reply for clients: send a command, wait for the event that answers it.

    reply = await client.request(ProcessPayment(...), reply=[PaymentSucceeded,
                                 PaymentFailed], timeout=10)

A client that asks for replies gets one queue of its own, `<ns>.reply.<hex>`, bound on
the events exchange to the reply types it waits for; the broker deletes it
`REPLY_QUEUE_EXPIRES` seconds after the client went away. An event answers a request
when it names the request's ids: its `correlation_id` is the request's correlation id
(the command's message_id when none was given; handlers copy it onto what they
publish), or its `causation_id` is the command's message_id. Past a saga the
correlation id is the saga instance's, so a request may name payload fields that must
be equal instead (`where={"order_id": "o-1"}`): then those decide, not the ids.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.errors import SagabusError
from bus.observability.logging import get_logger
from bus.wire.envelope import Envelope, PoisonMessage
from bus.wire.topology import Binding, Names, QueueSpec, Topology
from bus.wire.transport import Delivery, Subscription, Transport

REPLY_QUEUE_EXPIRES = 60.0
"""Seconds a reply queue outlives its client's last consumer before the broker drops it."""
REPLY_PREFETCH = 100

log = get_logger("sagabus.reply")


class NoReply(SagabusError, TimeoutError):
    """No awaited reply arrived within the timeout."""


@dataclass(slots=True)
class Waiter:
    """One request waiting for one of `types`."""

    request: Envelope
    types: frozenset[str]
    where: Mapping[str, Any]
    reply: asyncio.Future[Envelope] = field(default_factory=asyncio.Future)

    def answered_by(self, event: Envelope) -> bool:
        if event.type not in self.types:
            return False
        ids = {self.request.message_id, self.request.correlation_id} - {None}
        by_ids = event.correlation_id in ids or event.causation_id == self.request.message_id
        if self.where:
            return all(event.payload.get(k) == v for k, v in self.where.items())
        return by_ids


class ReplyQueue:
    """The client's reply queue and the requests waiting on it."""

    def __init__(self, transport: Transport, names: Names) -> None:
        self._transport = transport
        self._names = names
        self.queue = f"{names.namespace}.reply.{uuid.uuid4().hex[:16]}"
        self._types: set[str] = set()
        self._waiters: list[Waiter] = []
        self._subscription: Subscription | None = None
        self._acks: set[asyncio.Task[None]] = set()

    def topology(self) -> Topology:
        bindings = tuple(Binding(self._names.events, t) for t in sorted(self._types))
        return Topology(
            queues=(QueueSpec(self.queue, "classic", bindings, expires=REPLY_QUEUE_EXPIRES),)
        )

    async def expect(
        self, request: Envelope, types: frozenset[str], where: Mapping[str, Any]
    ) -> Waiter:
        """Registers a waiter; its reply queue is bound to `types` before this returns,
        so a reply cannot arrive before it is listened for."""
        if not types <= self._types:
            self._types |= types
            await self._transport.declare(self.topology())
        if self._subscription is None:
            self._subscription = await self._transport.consume(
                self.queue, REPLY_PREFETCH, self._on_delivery
            )
        waiter = Waiter(request, types, dict(where))
        self._waiters.append(waiter)
        return waiter

    def forget(self, waiter: Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()
            self._subscription = None
        if self._acks:
            await asyncio.gather(*self._acks, return_exceptions=True)
        delete: Callable[[Topology], Any] | None = getattr(self._transport, "delete", None)
        if delete is not None and self._types:
            try:
                await delete(self.topology())
            except Exception as exc:  # the broker drops it after REPLY_QUEUE_EXPIRES anyway
                log.debug("reply queue not deleted", queue=self.queue, error=str(exc))

    def _on_delivery(self, delivery: Delivery) -> None:
        try:
            event = delivery.envelope()
        except PoisonMessage:
            event = None
        if event is not None:
            for waiter in list(self._waiters):
                if not waiter.reply.done() and waiter.answered_by(event):
                    waiter.reply.set_result(event)
                    self._waiters.remove(waiter)
                    break
        if self._subscription is not None:
            task = asyncio.get_running_loop().create_task(self._subscription.ack([delivery]))
            self._acks.add(task)
            task.add_done_callback(self._acks.discard)


async def await_reply(waiter: Waiter, seconds: float, queue: ReplyQueue) -> Envelope:
    """The reply of `waiter`, or `NoReply` after `seconds`."""
    try:
        return await asyncio.wait_for(waiter.reply, seconds)
    except TimeoutError:
        raise NoReply(
            f"no {' or '.join(sorted(waiter.types))} answered {waiter.request.type}"
            f" {waiter.request.message_id} within {seconds:g}s"
        ) from None
    finally:
        queue.forget(waiter)
