"""The endpoint protocol and the context a handler runs in.

An endpoint is anything that owns one queue and handles the messages bound to it:
the services of `bus.unitofwork.service`, and the saga endpoints of the saga engine (queue
`saga.<name>`). The pipeline hands it each decoded `Envelope` together with a
`HandlerContext`; whatever the handler sends or publishes is collected there and
written to the outbox in the same transaction as the handler's own state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Unpack, runtime_checkable

from bus.store.base import Transaction
from bus.unitofwork.retry import RetryPolicy
from bus.wire.contracts import Message
from bus.wire.envelope import Envelope
from bus.wire.schedule import scheduled
from bus.wire.send_options import TimedSendOptions, check, due


@runtime_checkable
class Endpoint(Protocol):
    """name: the endpoint's queue (before the namespace prefix). commands / events: the
    type names bound from the commands and events exchanges. retry: its retry policy."""

    @property
    def name(self) -> str: ...

    @property
    def commands(self) -> frozenset[str]: ...

    @property
    def events(self) -> frozenset[str]: ...

    @property
    def retry(self) -> RetryPolicy: ...

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        """Handles one message; raising makes the pipeline retry it later."""


@runtime_checkable
class BatchReader(Protocol):
    """An endpoint that reads, before its batch's deliveries are handled, what they
    will need, in one statement (the saga endpoint: its instances)."""

    async def prepare(self, tx: Transaction, messages: Sequence[Envelope]) -> None:
        """Called in the batch's transaction with its new deliveries, in order, before
        the first is handled; not called for a delivery run on its own (savepoint)."""


class StandIn:
    """An endpoint standing in for `endpoint` on its queue: the same name, commands,
    events, retry policy and batch read (`prepare`); a subclass changes what `handle`
    does around it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def commands(self) -> frozenset[str]:
        return self.endpoint.commands

    @property
    def events(self) -> frozenset[str]:
        return self.endpoint.events

    @property
    def retry(self) -> RetryPolicy:
        return self.endpoint.retry

    async def prepare(self, tx: Transaction, messages: Sequence[Envelope]) -> None:
        """The endpoint's own `prepare` when it is a `BatchReader` (a stand-in reads
        ahead as the endpoint would); nothing otherwise."""
        if isinstance(self.endpoint, BatchReader):
            await self.endpoint.prepare(tx, messages)

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        await self.endpoint.handle(message, ctx)


@dataclass(eq=False, kw_only=True, slots=True)
class HandlerContext:
    """What a handler may touch while it handles one message.

    tx: the store transaction of this unit of work (the endpoint's own state goes
        through `tx.state_get` / `tx.state_put`, saga instances through `tx.saga_*`).
    message: the envelope being handled (payload already upcast and validated).
    contract: that payload parsed into its contract model, or None when the type has
        no registered contract.
    log: a structlog logger bound to endpoint, message_id, correlation_id and type.
    """

    endpoint: str
    tx: Transaction
    message: Envelope
    contract: Message | None
    log: Any
    _outgoing: list[Envelope] = field(default_factory=list, init=False, repr=False)

    def send(self, command: Message | Envelope, **options: Unpack[TimedSendOptions]) -> Envelope:
        """Queues a command; it leaves through the outbox once this unit commits.
        delay (seconds or a timedelta) or at (an aware datetime): it is sent then instead,
        by the daemon's scheduler (bus/unitofwork/scheduled.py), durably."""
        return self._add(command, "command", options)

    def publish(self, event: Message | Envelope, **options: Unpack[TimedSendOptions]) -> Envelope:
        """Queues an event; it leaves through the outbox once this unit commits (or at
        `delay` / `at`, as for `send`)."""
        return self._add(event, "event", options)

    def forward(self, envelope: Envelope) -> Envelope:
        """Queues an envelope as it is: its maker stamped its ids already (the saga
        engine does, so that a fired timer's messages are stamped the same way)."""
        self._outgoing.append(envelope)
        return envelope

    @property
    def outgoing(self) -> list[Envelope]:
        """The envelopes queued so far, in order."""
        return list(self._outgoing)

    def _add(
        self, message: Message | Envelope, kind: str, options: TimedSendOptions
    ) -> Envelope:
        check(options, TimedSendOptions)
        correlation_id, headers = options.get("correlation_id"), options.get("headers")
        at = due(options)
        if isinstance(message, Envelope):
            envelope = message
            if headers:
                envelope = replace(envelope, headers={**envelope.headers, **headers})
            if correlation_id is not None:
                envelope = replace(envelope, correlation_id=correlation_id)
            _check_kind(envelope.type, envelope.kind, kind)
            envelope = _caused_by(envelope, self.message)
        else:
            _check_kind(message.message_type(), message.__kind__, kind)
            envelope = self._caused(message, correlation_id, headers)
        self._outgoing.append(envelope if at is None else scheduled(envelope, at))
        return envelope

    def _caused(
        self, message: Message, correlation_id: str | None, headers: Mapping[str, Any] | None
    ) -> Envelope:
        """`Envelope.of(message, ...).caused_by(self.message)`, built once instead of
        built and then copied."""
        cause = self.message
        return Envelope(
            type=message.message_type(),
            kind=message.__kind__,
            payload=message.model_dump(mode="json"),
            correlation_id=correlation_id or cause.correlation_id,
            causation_id=cause.message_id,
            version=message.__version__,
            traceparent=cause.traceparent,
            headers=dict(headers or {}),
        )


def _caused_by(envelope: Envelope, cause: Envelope) -> Envelope:
    """`envelope.caused_by(cause)`, or `envelope` itself when that would copy it
    unchanged (an event store's envelope, stamped from the same cause already)."""
    if (
        envelope.causation_id == cause.message_id
        and (envelope.correlation_id or cause.correlation_id) == envelope.correlation_id
        and (envelope.traceparent or cause.traceparent) == envelope.traceparent
    ):
        return envelope
    return envelope.caused_by(cause)


def _check_kind(type_: str, given: str, kind: str) -> None:
    if given != kind:
        verb, wanted, got = (
            ("send", "a command", "an event") if kind == "command"
            else ("publish", "an event", "a command")
        )
        raise TypeError(f"ctx.{verb}() takes {wanted}; {type_} is {got}")
