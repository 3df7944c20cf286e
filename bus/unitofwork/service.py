"""Services: endpoints whose handlers are plain async functions over contract models.

    payments = Service("payments", retry=RetryPolicy(attempts=3))

    @payments.handles(ProcessPayment)          # a command: this service owns it
    async def charge(cmd: ProcessPayment, ctx: HandlerContext) -> None:
        ctx.publish(PaymentSucceeded(order_id=cmd.order_id, ...))

    @notifications.on(OrderCompleted)          # an event: any number of subscribers
    async def tell_customer(event: OrderCompleted, ctx: HandlerContext) -> None: ...

`loads=Loads(OrderAggregate, "order_id")` declares that a handler loads an
event-sourced aggregate by an id its message carries: the service then reads every
stream a batch's deliveries will load in one statement before it handles them
(`prepare`, `bus.eventsourcing.read_ahead`).

`emits=[...]` declares what a handler sends and publishes
(`@payments.handles(ProcessPayment, emits=[PaymentSucceeded, PaymentFailed])`): the
AsyncAPI document lists it (`sagabus asyncapi`), and a declaring handler that emits
anything else is logged as a warning, so the declaration stays true.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from bus.errors import ConfigurationError
from bus.unitofwork.endpoint import HandlerContext
from bus.unitofwork.retry import RetryPolicy
from bus.wire.contracts import Command, Event, Message, registry
from bus.wire.envelope import Envelope
from bus.wire.schedule import SCHEDULE_TYPE

if TYPE_CHECKING:
    from bus.eventsourcing.read_ahead import Loads
    from bus.store.base import Transaction

M = TypeVar("M", bound=Message)
Handler = Callable[[M, HandlerContext], Awaitable[None]]
AnyHandler = Callable[[Any, HandlerContext], Awaitable[None]]


class Service:
    """An endpoint named `name` (its queue) with command and event handlers.

    retry: the policy for every handler of this service (default `RetryPolicy()`).
    """

    def __init__(self, name: str, *, retry: RetryPolicy | None = None) -> None:
        if not name or any(c.isspace() for c in name):
            raise ConfigurationError(f"a service name must be a non-empty word, not {name!r}")
        self.name = name
        self.retry = retry or RetryPolicy()
        self._handlers: dict[str, list[AnyHandler]] = {}
        self.commands: frozenset[str] = frozenset()
        """Commands it handles (`handles`); registering a handler replaces the set."""
        self.events: frozenset[str] = frozenset()
        """Events it subscribes to (`on`)."""
        self.sends: frozenset[str] = frozenset()
        """Commands its handlers declare they send (`emits=`)."""
        self.publishes: frozenset[str] = frozenset()
        """Events its handlers declare they publish (`emits=`)."""
        self._emits: dict[str, set[str]] = {}
        self._loads: dict[str, list[Loads]] = {}
        """Per message type, the aggregates its handlers load (`loads=`)."""

    def __repr__(self) -> str:
        return f"Service({self.name!r})"

    def _declare(
        self, handled: str, emits: Iterable[type[Message]], loads: Loads | None
    ) -> None:
        if loads is not None:
            self._loads.setdefault(handled, []).append(loads)
        declared = list(emits)
        for contract in declared:
            if not (isinstance(contract, type) and issubclass(contract, Command | Event)):
                raise ConfigurationError(
                    f"{self.name}: emits= takes contract classes, not {contract!r}"
                )
            if issubclass(contract, Command):
                self.sends |= {contract.message_type()}
            else:
                self.publishes |= {contract.message_type()}
        if declared:
            self._emits.setdefault(handled, set()).update(c.message_type() for c in declared)

    def handles(
        self,
        contract: type[M],
        *,
        emits: Iterable[type[Message]] = (),
        loads: Loads | None = None,
    ) -> Callable[[Handler[M]], Handler[M]]:
        """Registers the handler of a command; one handler per command. emits: the
        contracts it sends or publishes; loads: the aggregate it loads (see the module
        docstring)."""
        if not (isinstance(contract, type) and issubclass(contract, Command)):
            raise ConfigurationError(
                f"{self.name}.handles() takes a Command class, not {contract!r}"
                " (subscribe to events with .on())"
            )
        name = contract.message_type()
        if name in self.commands:
            raise ConfigurationError(f"{self.name} handles {name} twice")

        def register(fn: Handler[M]) -> Handler[M]:
            self.commands |= {name}
            self._handlers[name] = [fn]
            self._declare(name, emits, loads)
            return fn

        return register

    def on(
        self,
        contract: type[M],
        *,
        emits: Iterable[type[Message]] = (),
        loads: Loads | None = None,
    ) -> Callable[[Handler[M]], Handler[M]]:
        """Registers a handler of an event; several handlers run in registration order.
        emits, loads: as for `handles`."""
        if not (isinstance(contract, type) and issubclass(contract, Event)):
            raise ConfigurationError(
                f"{self.name}.on() takes an Event class, not {contract!r}"
                " (handle commands with .handles())"
            )
        name = contract.message_type()

        def register(fn: Handler[M]) -> Handler[M]:
            self.events |= {name}
            self._handlers.setdefault(name, []).append(fn)
            self._declare(name, emits, loads)
            return fn

        return register

    async def prepare(self, tx: Transaction, messages: Sequence[Envelope]) -> None:
        """Reads at once the streams the handlers of `messages` declare they load
        (`loads=`); nothing when none does."""
        streams = [
            stream
            for message in messages
            for loads in self._loads.get(message.type, ())
            if (stream := loads.stream(message)) is not None
        ]
        if streams:
            from bus.eventsourcing.read_ahead import read_ahead

            await read_ahead(tx, streams)

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        model = ctx.contract
        if model is None:
            model = registry.parse(message.type, message.version, message.payload)
        already = len(ctx.outgoing)
        for handler in self._handlers[message.type]:
            await handler(model, ctx)
        declared = self._emits.get(message.type)
        if declared is not None:
            _check_declared(ctx, ctx.outgoing[already:], declared)


def _check_declared(ctx: HandlerContext, sent: list[Envelope], declared: set[str]) -> None:
    for envelope in sent:
        name = envelope.type
        if name == SCHEDULE_TYPE:
            name = envelope.payload["envelope"]["type"]
        if name not in declared:
            ctx.log.warning(
                "handler emitted a message it does not declare (emits=)",
                emitted=name, declared=sorted(declared),
            )
