"""`emits=` on a service's handlers: listed as the service's sends, and a handler that
emits something it does not declare is logged, so the AsyncAPI document stays true."""

from __future__ import annotations

from typing import Any

import pytest
from eco_services import EcoPing, EcoPong, EcoRemind

from bus import Service
from bus.errors import ConfigurationError
from bus.unitofwork.endpoint import HandlerContext
from bus.wire.envelope import Envelope
from sagabus.participants import of_service


class Log:
    def __init__(self) -> None:
        self.warnings: list[dict[str, Any]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append({"event": event, **fields})


def context(message: Envelope, log: Log) -> HandlerContext:
    return HandlerContext(endpoint="t", tx=None, message=message, contract=None, log=log)  # type: ignore[arg-type]


def declaring_service() -> Service:
    service = Service("declaring")

    @service.handles(EcoPing, emits=[EcoPong])
    async def ping(cmd: EcoPing, ctx: HandlerContext) -> None:
        ctx.publish(EcoPong(n=cmd.n))
        if cmd.n > 100:
            ctx.send(EcoRemind(note="undeclared"), delay=5)

    return service


def test_declared_emits_are_the_service_s_sends_and_publishes() -> None:
    participant = of_service(declaring_service())
    assert participant.publishes_events == {"EcoPong"}
    assert participant.sends_commands == frozenset()


async def test_an_undeclared_emission_is_logged_even_when_scheduled() -> None:
    service = declaring_service()
    log = Log()
    await service.handle(Envelope.of(EcoPing(n=1)), context(Envelope.of(EcoPing(n=1)), log))
    assert log.warnings == []
    big = Envelope.of(EcoPing(n=101))
    await service.handle(big, context(big, log))
    [warning] = log.warnings
    assert warning["emitted"] == "EcoRemind"
    assert warning["declared"] == ["EcoPong"]


def test_emits_takes_contract_classes() -> None:
    service = Service("wrong")
    with pytest.raises(ConfigurationError, match="emits= takes contract classes"):
        service.handles(EcoPing, emits=["EcoPong"])(lambda cmd, ctx: None)  # type: ignore[list-item, arg-type, return-value]
