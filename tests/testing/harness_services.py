"""Services the harness tests run: `tills` takes deposits and counts each one in its own
state (the effect whose count the tests check), `ledger` hears of them by event.

A deposit fails on purpose while the message's failure count (`x-attempts`) is below
`fail_times`, or always with `always_fail`; `then_send_unhandled` makes the till send a
command that no endpoint handles.
"""

from __future__ import annotations

from bus import Command, Event, HandlerContext, RetryPolicy, Service

TILLS = "tills"
LEDGER = "ledger"


class HtDeposit(Command):
    deposit_id: str
    amount: float = 1.0
    fail_times: int = 0
    always_fail: bool = False
    then_send_unhandled: bool = False


class HtDeposited(Event):
    deposit_id: str
    amount: float


class HtNobodyHandlesThis(Command):
    deposit_id: str


tills = Service(TILLS, retry=RetryPolicy(attempts=3, delays=["200ms", "300ms"]))
ledger = Service(LEDGER)


class TillJammed(RuntimeError):
    """The failure the tests make the till raise."""


@tills.handles(HtDeposit)
async def deposit(cmd: HtDeposit, ctx: HandlerContext) -> None:
    failures = int(ctx.message.headers.get("x-attempts", 0))
    if cmd.always_fail or failures < cmd.fail_times:
        raise TillJammed(f"till jammed on {cmd.deposit_id} (run {failures + 1})")
    doc = await ctx.tx.state_get(TILLS, cmd.deposit_id, for_update=True) or {"count": 0}
    doc["count"] += 1
    doc["runs"] = failures + 1
    await ctx.tx.state_put(TILLS, cmd.deposit_id, doc)
    ctx.publish(HtDeposited(deposit_id=cmd.deposit_id, amount=cmd.amount))
    if cmd.then_send_unhandled:
        ctx.send(HtNobodyHandlesThis(deposit_id=cmd.deposit_id))


@ledger.on(HtDeposited)
async def record(event: HtDeposited, ctx: HandlerContext) -> None:
    doc = await ctx.tx.state_get(LEDGER, event.deposit_id, for_update=True) or {"total": 0.0}
    doc["total"] += event.amount
    await ctx.tx.state_put(LEDGER, event.deposit_id, doc)
