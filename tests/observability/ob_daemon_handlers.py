"""The service `sagabus run --handlers ob_daemon_handlers` serves in the daemon test:
`ObWork` succeeds (and publishes `ObWorked`, which the same service hears) or, with
`fail`, raises on every attempt (one retry after 200 ms, then the dead-letter queue)."""

from __future__ import annotations

from bus import Command, Event, HandlerContext, RetryPolicy, Service


class ObWork(Command):
    n: int
    fail: bool = False


class ObWorked(Event):
    n: int


class ObRefused(RuntimeError):
    """The failure the test asks for."""


work = Service("ob_work", retry=RetryPolicy(attempts=2, delays=["200ms"]))


@work.handles(ObWork)
async def do_work(cmd: ObWork, ctx: HandlerContext) -> None:
    if cmd.fail:
        raise ObRefused(f"refusing work {cmd.n}")
    ctx.publish(ObWorked(n=cmd.n))


@work.on(ObWorked)
async def worked(event: ObWorked, ctx: HandlerContext) -> None:
    """Only here to be handled (and logged) as a consequence of ObWork."""
