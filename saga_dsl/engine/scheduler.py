"""Durable timers: the scheduler that fires the `retry` and `timeout` timers of sagas.

Timers live in the store, so they survive a restart. The due timers are read, then
fired one instance at a time, each in its own transaction that locks the instance
first, the way a saga endpoint does: the instance, then its timers. (Taking the timer
rows first and then their instances, as a batch, deadlocks on PostgreSQL with an
endpoint that holds an instance and cancels its timers.) Inside that transaction the
timer is looked up again and fired only if it is still there, then deleted, and the
instance advanced by `recording.advance`, the unit of work a message delivered to the
saga's endpoint goes through too (machine step, instance saved, history, timers,
envelopes stamped once), its messages written to the outbox; so with several
daemons on one PostgreSQL store each timer fires once, whoever reads it first.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bus.observability.observe import NO_OBSERVER, Facts, Observer, current_observer
from bus.store.base import Store, TimerRecord, Transaction
from bus.unitofwork.runtime import Bus
from bus.wire.contracts import Registry, registry
from bus.wire.envelope import utcnow
from saga_dsl import TimerFired
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.recording import Cause, advance, log
from saga_dsl.machine import TIMEOUT_TIMER

POLL_INTERVAL = 0.5
"""Seconds between looks at the timer table when nothing is due sooner (other daemons
may arm timers this one does not hear of)."""

BATCH = 200
"""Timers fired in one transaction, at most."""

UNSERVED_DELAY = timedelta(minutes=1)
"""How far a timer is pushed back when this daemon cannot run its saga (not loaded, or
an instance on another definition version): it stays for a daemon that can."""


def firing_order(timer: TimerRecord) -> tuple[bool, datetime, int]:
    """Overdue timers of one instance fire timeouts first, then by due time: after a
    restart a state's timeout and its retry can both be overdue, and the timeout must
    win (the retry would send once more what the saga is giving up on)."""
    return (not timer.name.startswith(TIMEOUT_TIMER), timer.due_at, timer.id)


class TimerScheduler:
    """A background task of the bus (`Bus(background=[scheduler])`)."""

    __name__ = "saga-timers"

    def __init__(
        self,
        endpoints: Sequence[SagaEndpoint],
        *,
        contracts: Registry = registry,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.endpoints: Mapping[str, SagaEndpoint] = {e.machine.name: e for e in endpoints}
        self.contracts = contracts
        self.poll_interval = poll_interval

    async def __call__(self, bus: Bus) -> None:
        failures = 0
        while True:
            try:
                fired = await self.fire_due(bus.store, observer=bus.observer)
                failures = 0
            except Exception as exc:  # the store may be down for a while: keep going
                failures += 1
                log.warning("timer firing failed; retrying", error=str(exc), failures=failures)
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            if fired:
                bus.relay.notify()
                continue
            await asyncio.sleep(await self._wait(bus.store))

    async def _wait(self, store: Store) -> float:
        async with store.transaction() as tx:
            due = await tx.next_timer_due()
        if due is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, (due - utcnow()).total_seconds()))

    async def fire_due(
        self, store: Store, now: datetime | None = None, *, observer: Observer = NO_OBSERVER
    ) -> int:
        """Fires the timers due at `now` (default: now), one transaction per instance;
        returns how many fired here (not counting those another daemon fired first).
        `observer` hears of the timers due and of what the steps did.

        Raises the first error after trying every instance: the timers that failed stay
        armed and are tried again.
        """
        now = now or utcnow()
        async with store.transaction() as tx:
            due = await tx.timers_due(now, BATCH)
        observer.timers_due([timer.due_at for timer in due], now)
        by_instance: dict[str, list[TimerRecord]] = defaultdict(list)
        for timer in due:
            by_instance[timer.instance_id].append(timer)
        fired = 0
        error: Exception | None = None
        for instance_id, timers in by_instance.items():
            facts = Facts(observer)
            try:
                with facts.open():
                    async with store.transaction() as tx:
                        fired += await self._fire_instance(tx, instance_id, timers, now)
                facts.commit()
            except Exception as exc:
                log.warning(
                    "timers of an instance not fired; they stay armed",
                    instance_id=instance_id, error=f"{type(exc).__name__}: {exc}",
                )
                error = error or exc
        if error is not None and not fired:
            raise error
        return fired

    async def _fire_instance(
        self, tx: Transaction, instance_id: str, timers: Sequence[TimerRecord], now: datetime
    ) -> int:
        if await tx.saga_get(instance_id, for_update=True) is None:
            for timer in timers:
                await tx.timer_delete(timer.id)
            return 0
        # read again under the instance's lock: another daemon may have fired some, and
        # the batch may hold only part of what is overdue
        overdue = [t for t in await tx.timers_of(instance_id) if t.due_at <= now]
        for timer in sorted(overdue, key=firing_order):
            await tx.timer_delete(timer.id)
            await self._fire(tx, timer, now)
        return len(overdue)

    async def _fire(self, tx: Transaction, timer: TimerRecord, now: datetime) -> None:
        endpoint = self.endpoints.get(timer.saga)
        record = await tx.saga_get(timer.instance_id, for_update=True)
        if record is None or record.status != "running":
            return
        machine = endpoint.versions.get(record.definition_version) if endpoint else None
        if machine is None:
            log.error(
                "timer of a saga version this daemon does not run: postponed",
                saga=timer.saga,
                instance_id=timer.instance_id,
                timer=timer.name,
                version=record.definition_version,
            )
            await tx.timer_arm(replace(timer, id=0, due_at=now + UNSERVED_DELAY))
            return
        fired = TimerFired(timer.name)
        traceparent = timer.payload.get("traceparent")
        with current_observer().firing(timer.saga, timer.name, traceparent) as traceparent:
            cause = Cause(fired, traceparent=traceparent)
            # the same unit of work as a message delivered to the saga's endpoint
            envelopes = await advance(tx, machine, record, cause, now, self.contracts)
        if envelopes:
            await tx.outbox_add(envelopes)
