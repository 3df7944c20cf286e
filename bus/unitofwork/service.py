"""Services: endpoints whose handlers are plain async functions over contract models.

    payments = Service("payments", retry=RetryPolicy(attempts=3))

    @payments.handles(ProcessPayment)          # a command: this service owns it
    async def charge(cmd: ProcessPayment, ctx: HandlerContext) -> None:
        ctx.publish(PaymentSucceeded(order_id=cmd.order_id, ...))

    @notifications.on(OrderCompleted)          # an event: any number of subscribers
    async def tell_customer(event: OrderCompleted, ctx: HandlerContext) -> None: ...

`emits=[...]` declares what a handler sends and publishes
(`@payments.handles(ProcessPayment, emits=[PaymentSucceeded, PaymentFailed])`): the
AsyncAPI document lists it (`sagabus asyncapi`), and a declaring handler that emits
anything else is logged as a warning, so the declaration stays true.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from bus.errors import ConfigurationError
from bus.unitofwork.endpoint import HandlerContext
from bus.unitofwork.retry import RetryPolicy
from bus.wire.contracts import Command, Event, Message, registry
from bus.wire.envelope import Envelope
from bus.wire.schedule import SCHEDULE_TYPE

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

    def __repr__(self) -> str:
        return f"Service({self.name!r})"

    def _declare(self, handled: str, emits: Iterable[type[Message]]) -> None:
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
        self, contract: type[M], *, emits: Iterable[type[Message]] = ()
    ) -> Callable[[Handler[M]], Handler[M]]:
        """Registers the handler of a command; one handler per command. emits: the
        contracts it sends or publishes (see the module docstring)."""
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
            self._declare(name, emits)
            return fn

        return register

    def on(
        self, contract: type[M], *, emits: Iterable[type[Message]] = ()
    ) -> Callable[[Handler[M]], Handler[M]]:
        """Registers a handler of an event; several handlers run in registration order.
        emits: as for `handles`."""
        if not (isinstance(contract, type) and issubclass(contract, Event)):
            raise ConfigurationError(
                f"{self.name}.on() takes an Event class, not {contract!r}"
                " (handle commands with .handles())"
            )
        name = contract.message_type()

        def register(fn: Handler[M]) -> Handler[M]:
            self.events |= {name}
            self._handlers.setdefault(name, []).append(fn)
            self._declare(name, emits)
            return fn

        return register

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
