"""The client: sends commands and publishes events from outside the bus.

    async with BusClient(settings) as client:
        await client.send(CreateOrder(order_id="o-1", ...))
        await client.publish_type("OrderCancellationRequested", {"order_id": "o-1"})
        await client.send(ExpireOrder(order_id="o-1"), delay=3600)     # durable, later
        reply = await client.request(ProcessPayment(...), reply=PaymentSucceeded)

`send`/`publish` with `delay` or `at` go through the daemon's scheduler
(bus/wire/schedule.py); `request` waits for the answering event (bus/wire/reply.py).
Every publish is persistent and confirmed. A command that no queue is bound for is
returned by the broker and raises `Unroutable`: nobody would ever handle it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Unpack

from bus.errors import BrokerUnavailable, ContractViolation, Unroutable
from bus.settings import Settings
from bus.wire.contracts import Message, Registry, registry
from bus.wire.envelope import Envelope
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.reply import ReplyQueue, await_reply
from bus.wire.schedule import scheduled
from bus.wire.send_options import SendOptions, TimedSendOptions, check, due
from bus.wire.topology import Names, exchanges
from bus.wire.transport import Outcome, Publication, Transport, WireMessage


class BusClient:
    """settings: default `Settings.load()`. transport: default RabbitMQ at
    `settings.amqp_url`. contracts: the registry `send_type` / `publish_type` check
    against."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: Transport | None = None,
        contracts: Registry = registry,
    ) -> None:
        self.settings = settings or Settings.load()
        self.names = Names(self.settings.namespace)
        self.transport: Transport = transport or RabbitMQTransport(
            self.settings.amqp_url, ready_timeout=0.0, name="sagabus-client"
        )
        self._contracts = contracts
        self._replies: ReplyQueue | None = None

    async def __aenter__(self) -> BusClient:
        await self.transport.connect()
        try:
            await self.transport.declare(exchanges(self.names))
        except BaseException:
            await self.transport.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._replies is not None:
                await self._replies.close()
        finally:
            await self.transport.close()

    async def send(self, command: Message, **options: Unpack[TimedSendOptions]) -> Envelope:
        """Sends a command to its one owner; returns the envelope that was sent.
        delay (seconds or a timedelta) or at (an aware datetime): the daemon's scheduler
        keeps it durably and sends it then."""
        check(options, TimedSendOptions)
        return await self._dispatch_at(_wrap(command, "command", options), due(options))

    async def publish(self, event: Message, **options: Unpack[TimedSendOptions]) -> Envelope:
        """Publishes an event to every subscriber (there may be none); `delay` / `at`
        as for `send`."""
        check(options, TimedSendOptions)
        return await self._dispatch_at(_wrap(event, "event", options), due(options))

    async def request(
        self,
        command: Message | Envelope,
        *,
        reply: type[Message] | str | Iterable[type[Message] | str],
        timeout: float = 30.0,  # noqa: ASYNC109 - the request's own deadline
        where: Mapping[str, Any] | None = None,
        **options: Unpack[SendOptions],
    ) -> Envelope:
        """Sends `command` and returns the first event of type `reply` (a type, a name,
        or several) that answers it (bus/wire/reply.py); raises `NoReply` after
        `timeout` seconds. `where`: payload fields the reply must have, instead of ids."""
        check(options, SendOptions)
        envelope = (
            command if isinstance(command, Envelope)
            else _wrap(command, "command", options)
        )
        if envelope.correlation_id is None:
            envelope = replace(envelope, correlation_id=envelope.message_id)
        if self._replies is None:
            self._replies = ReplyQueue(self.transport, self.names)
        waiter = await self._replies.expect(envelope, _type_names(reply), where or {})
        try:
            await self.dispatch(envelope)
        except BaseException:
            self._replies.forget(waiter)
            raise
        return await await_reply(waiter, timeout, self._replies)

    async def send_type(
        self, type_name: str, payload: Mapping[str, Any], **options: Unpack[SendOptions]
    ) -> Envelope:
        """Sends the command `type_name` with `payload`, validated against its contract."""
        check(options, SendOptions)
        return await self.send(self._parse(type_name, payload, "command"), **options)

    async def publish_type(
        self, type_name: str, payload: Mapping[str, Any], **options: Unpack[SendOptions]
    ) -> Envelope:
        """Publishes the event `type_name` with `payload`, validated against its contract."""
        check(options, SendOptions)
        return await self.publish(self._parse(type_name, payload, "event"), **options)

    async def _dispatch_at(self, envelope: Envelope, due: datetime | None) -> Envelope:
        if due is None:
            return await self.dispatch(envelope)
        await self.dispatch(scheduled(envelope, due))
        return envelope

    async def dispatch(self, envelope: Envelope) -> Envelope:
        """Publishes a ready envelope (routed by its kind)."""
        exchange, routing_key, mandatory = self.names.route(envelope)
        [outcome] = await self.transport.publish(
            [Publication(exchange, routing_key, WireMessage.of(envelope), mandatory)]
        )
        if outcome is Outcome.RETURNED:
            raise Unroutable(
                f"no queue is bound for command {envelope.type} on exchange {exchange}:"
                " no running service handles it (start the service that does, or check"
                " the type name and namespace)"
            )
        if outcome is not Outcome.CONFIRMED:
            raise BrokerUnavailable(
                f"RabbitMQ did not confirm {envelope.type} {envelope.message_id}"
            )
        return envelope

    def envelope_of(
        self,
        type_name: str,
        payload: Mapping[str, Any],
        kind: str,
        correlation_id: str | None = None,
    ) -> Envelope:
        """The envelope of `type_name` with `payload`, validated against its contract."""
        message = self._parse(type_name, payload, kind)
        return _wrap(message, kind, {"correlation_id": correlation_id})

    def _parse(self, type_name: str, payload: Mapping[str, Any], kind: str) -> Message:
        contract = self._contracts.get(type_name)
        if contract.__kind__ != kind:
            verb, other = ("send", "an event") if kind == "command" else ("publish", "a command")
            raise ContractViolation(f"{type_name} is {other}, not a {kind}: {verb} takes a {kind}")
        return self._contracts.parse(type_name, contract.__version__, payload)


def _type_names(reply: type[Message] | str | Iterable[type[Message] | str]) -> frozenset[str]:
    if isinstance(reply, str | type):
        reply = [reply]
    return frozenset(r if isinstance(r, str) else r.message_type() for r in reply)


def _wrap(message: Message, kind: str, options: SendOptions) -> Envelope:
    if message.__kind__ != kind:
        raise TypeError(f"{message.message_type()} is a {message.__kind__}, not a {kind}")
    return Envelope.of(
        message,
        correlation_id=options.get("correlation_id"),
        headers=dict(options.get("headers") or {}),
    )
