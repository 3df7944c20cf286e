"""Durable timers: the scheduler that fires the `retry` and `timeout` timers of sagas.

Timers live in the store, so they survive a restart. Each firing runs in one
transaction: the timer row is locked and deleted, the instance advanced and saved, its
messages written to the outbox. On PostgreSQL, timers due are taken with
`FOR UPDATE SKIP LOCKED`, so several daemons share the work and each timer fires once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bus.contracts import Registry, registry
from bus.envelope import utcnow
from bus.runtime import Bus
from bus.store.base import Store, TimerRecord, Transaction
from saga_dsl import TimerFired
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.steps import Cause, instance_of, log, record_step

POLL_INTERVAL = 0.5
"""Seconds between looks at the timer table when nothing is due sooner (other daemons
may arm timers this one does not hear of)."""

BATCH = 200
"""Timers fired in one transaction, at most."""

UNSERVED_DELAY = timedelta(minutes=1)
"""How far a timer is pushed back when this daemon cannot run its saga (not loaded, or
an instance on another definition version): it stays for a daemon that can."""


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
                fired = await self.fire_due(bus.store)
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

    async def fire_due(self, store: Store, now: datetime | None = None) -> int:
        """Fires the timers due at `now` (default: now) in one transaction; returns how
        many were taken."""
        now = now or utcnow()
        async with store.transaction() as tx:
            timers = await tx.timers_due(now, BATCH)
            for timer in timers:
                await self._fire(tx, timer, now)
        return len(timers)

    async def _fire(self, tx: Transaction, timer: TimerRecord, now: datetime) -> None:
        await tx.timer_delete(timer.id)
        endpoint = self.endpoints.get(timer.saga)
        record = await tx.saga_get(timer.instance_id, for_update=True)
        if record is None:
            return
        if endpoint is None or record.definition_version != endpoint.machine.version:
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
        step = endpoint.machine.handle(instance_of(record), fired, now)
        if not step.accepted:
            return
        envelopes = await record_step(tx, record, step, Cause(fired), now, self.contracts)
        if envelopes:
            await tx.outbox_add(envelopes)
