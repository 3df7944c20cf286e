"""Middleware: the user's own hooks around every handler of an endpoint.

    class TenantGate(Middleware):
        async def before(self, message: Envelope, ctx: HandlerContext) -> None:
            if message.headers.get("tenant") == "suspended":
                raise Skip("tenant suspended")

        async def after(self, message, ctx, error) -> None:
            ctx.log.info("handled", failed=error is not None)

`before` runs in list order before the handler and may raise `Skip(reason)`: the
message is then done without its handler (its inbox row is written, it is
acknowledged, nothing it would have sent leaves) and the skip is logged with the
reason. `after` runs in reverse order once the handler returned or raised (`error`),
for every middleware whose `before` ran. Both run inside the unit of work: what they
write through `ctx.tx` or send through `ctx` commits with the handler's effects, and an
exception from either fails the unit like a handler's would (it is retried).

`sagabus run --middleware module:name` loads them (`load_middleware`); `name` is a
`Middleware` instance, a class built without arguments, or a list of either. Saga
timers fire without passing through middleware.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any, cast

from bus.errors import ConfigurationError
from bus.unitofwork.endpoint import Endpoint, HandlerContext, StandIn
from bus.wire.envelope import Envelope


class Skip(Exception):
    """Raised by `Middleware.before`: leave this message unhandled, for `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Middleware:
    """Base of user middleware: both hooks do nothing unless overridden."""

    async def before(self, message: Envelope, ctx: HandlerContext) -> None:
        """Before the handler; raise `Skip(reason)` to skip the message."""

    async def after(
        self, message: Envelope, ctx: HandlerContext, error: BaseException | None
    ) -> None:
        """After the handler; `error` is what it raised, or None."""


class WithMiddleware(StandIn):
    """`endpoint` with `middleware` around its `handle` (the same queue and bindings)."""

    def __init__(self, endpoint: Endpoint, middleware: Sequence[Middleware]) -> None:
        super().__init__(endpoint)
        self.middleware = tuple(middleware)

    def __repr__(self) -> str:
        return f"WithMiddleware({self.endpoint!r}, {len(self.middleware)})"

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        entered: list[Middleware] = []
        try:
            for middleware in self.middleware:
                await middleware.before(message, ctx)
                entered.append(middleware)
        except Skip as skip:
            ctx.log.info("message skipped by middleware", reason=skip.reason,
                         middleware=type(middleware).__name__)
            await _after(entered, message, ctx, None)
            return
        try:
            await self.endpoint.handle(message, ctx)
        except BaseException as error:
            await _after(entered, message, ctx, error)
            raise
        await _after(entered, message, ctx, None)


async def _after(
    entered: list[Middleware], message: Envelope, ctx: HandlerContext, error: BaseException | None
) -> None:
    for middleware in reversed(entered):
        await middleware.after(message, ctx, error)


def with_middleware(
    endpoints: Iterable[Endpoint], middleware: Sequence[Middleware]
) -> list[Endpoint]:
    """Every endpoint wrapped in `middleware` (unchanged when there is none)."""
    if not middleware:
        return list(endpoints)
    return [WithMiddleware(e, middleware) for e in endpoints]


def load_middleware(specs: Iterable[str]) -> list[Middleware]:
    """The middleware named by `module:name` specs, in order (see the module docstring)."""
    loaded: list[Middleware] = []
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise ConfigurationError(f"middleware {spec!r}: write it as module:name")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ConfigurationError(
                f"middleware {spec!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            value = getattr(module, attribute)
        except AttributeError:
            raise ConfigurationError(
                f"middleware {spec!r}: {module_name} has no {attribute}"
            ) from None
        items = value if isinstance(value, list | tuple) else [value]
        loaded.extend(_instance(spec, item) for item in items)
    return loaded


def _instance(spec: str, value: Any) -> Middleware:
    if isinstance(value, type):
        try:
            value = value()
        except Exception as exc:
            raise ConfigurationError(
                f"middleware {spec!r}: {value.__name__}() failed: {type(exc).__name__}: {exc}"
            ) from None
    if not (callable(getattr(value, "before", None)) and callable(getattr(value, "after", None))):
        raise ConfigurationError(
            f"middleware {spec!r}: {value!r} has no before/after hooks (subclass Middleware)"
        )
    return cast(Middleware, value)
