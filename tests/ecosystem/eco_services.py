"""Contracts and services of the ecosystem tests (importable by name, so the CLI can
load them with --contracts eco_services)."""

from __future__ import annotations

from datetime import UTC, datetime

from bus import Command, Event, HandlerContext, Service


class EcoPing(Command):
    n: int


class EcoPong(Event):
    n: int


class EcoRemind(Command):
    note: str


class EcoStart(Command):
    note: str
    delay: float


received: list[tuple[str, str, datetime]] = []
"""(type, note or n, when) of every handled message, in order."""

echo = Service("eco-echo")


@echo.handles(EcoPing)
async def ping(cmd: EcoPing, ctx: HandlerContext) -> None:
    received.append(("EcoPing", str(cmd.n), datetime.now(UTC)))
    if cmd.n >= 0:  # a negative ping is never answered
        ctx.publish(EcoPong(n=cmd.n))


@echo.handles(EcoRemind)
async def remind(cmd: EcoRemind, ctx: HandlerContext) -> None:
    received.append(("EcoRemind", cmd.note, datetime.now(UTC)))


@echo.handles(EcoStart)
async def start(cmd: EcoStart, ctx: HandlerContext) -> None:
    received.append(("EcoStart", cmd.note, datetime.now(UTC)))
    ctx.send(EcoRemind(note=cmd.note), delay=cmd.delay)
