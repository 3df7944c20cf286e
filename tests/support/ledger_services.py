"""Services the bus and harness tests run, in-process and in daemon subprocesses
(`sagabus run --handlers ledger_services` with tests/support on PYTHONPATH).

`ledger` charges: it counts each charge in its own state (the effect whose count the
tests check) and publishes `BtCharged`. It fails on purpose while the message's
failure count (`x-attempts`) is below `fail_times`, or always with `always_fail`.
`audit` subscribes to `BtCharged` (choreography: no orchestrator between the two).
"""

from __future__ import annotations

from bus import Command, Event, HandlerContext, RetryPolicy, Service

LEDGER = "ledger"
AUDIT = "audit"


class BtCharge(Command):
    charge_id: str
    amount: float = 1.0
    fail_times: int = 0
    always_fail: bool = False
    then_send_unhandled: bool = False


class BtCharged(Event):
    charge_id: str
    amount: float


class BtNobodyHandlesThis(Command):
    charge_id: str


ledger = Service(LEDGER, retry=RetryPolicy(attempts=3, delays=["200ms", "300ms"]))
audit = Service(AUDIT, retry=RetryPolicy(attempts=2, delays=["200ms"]))


class DeclinedCard(RuntimeError):
    """The failure the tests make the ledger raise."""


@ledger.handles(BtCharge)
async def charge(cmd: BtCharge, ctx: HandlerContext) -> None:
    failures = int(ctx.message.headers.get("x-attempts", 0))
    if cmd.always_fail or failures < cmd.fail_times:
        raise DeclinedCard(f"card declined for {cmd.charge_id} (run {failures + 1})")
    doc = await ctx.tx.state_get(LEDGER, cmd.charge_id, for_update=True) or {"count": 0}
    doc["count"] += 1
    doc["runs"] = failures + 1
    await ctx.tx.state_put(LEDGER, cmd.charge_id, doc)
    ctx.publish(BtCharged(charge_id=cmd.charge_id, amount=cmd.amount))
    if cmd.then_send_unhandled:
        ctx.send(BtNobodyHandlesThis(charge_id=cmd.charge_id))


@audit.on(BtCharged)
async def record(event: BtCharged, ctx: HandlerContext) -> None:
    doc = await ctx.tx.state_get(AUDIT, event.charge_id, for_update=True) or {"count": 0}
    doc["count"] += 1
    doc["correlation_id"] = ctx.message.correlation_id
    doc["causation_id"] = ctx.message.causation_id
    await ctx.tx.state_put(AUDIT, event.charge_id, doc)
