"""The sampler: gauges that are read, not reported, refreshed by a background task.

Every `interval` seconds it reads the depth of each endpoint's queue and DLQ from the
broker, and from the store the saga instances by saga and state, the parked ones, the
outbox backlog and how late the earliest timer is. A source that does not answer
leaves its gauges as they were (the health check is what says it is down) and the
next round tries again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

from bus.observability.logging import get_logger
from bus.observability.metrics import Metrics
from bus.store.browse import saga_census
from bus.wire.envelope import utcnow

if TYPE_CHECKING:
    from bus.unitofwork.runtime import Bus

log = get_logger("sagabus.sampler")

INTERVAL = 10.0
"""Seconds between samples (Prometheus scrapes every 15 s by default)."""

TIMEOUT = 5.0
"""Seconds one source may take to answer."""

class Sampler:
    """A background task of the bus (`Bus(background=[Sampler(metrics)])`)."""

    __name__ = "metrics-sampler"

    def __init__(self, metrics: Metrics, *, interval: float = INTERVAL) -> None:
        self.metrics = metrics
        self.interval = interval

    async def __call__(self, bus: Bus) -> None:
        while True:
            await self.sample(bus)
            await asyncio.sleep(self.interval)

    async def sample(self, bus: Bus) -> None:
        """One round: the broker's queues, then the store."""
        for source in (self._queues, self._store):
            try:
                await asyncio.wait_for(source(bus), TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("metrics sample failed", source=source.__name__, error=repr(exc))

    async def _queues(self, bus: Bus) -> None:
        depth = getattr(bus.transport, "queue_depth", None)
        if depth is None:
            return
        for pipeline in bus.pipelines:
            for queue in (pipeline.queue, bus.names.dlq(pipeline.queue)):
                self.metrics.queue_depth.labels(queue).set(await depth(queue))

    async def _store(self, bus: Bus) -> None:
        async with bus.store.transaction() as tx:
            census = await saga_census(tx)  # counted in the index, no instance read
            backlog = await tx.outbox_backlog()
            next_due = await tx.next_timer_due()
        counts: Counter[tuple[str, str]] = Counter()
        parked: Counter[str] = Counter()
        for row in census:
            counts[row.saga, row.state] += row.count
            parked[row.saga] += row.count if row.status == "parked" else 0
        m = self.metrics
        # no await from here on: a scrape never sees the gauges half set
        m.saga_instances.clear()
        for (saga, state), count in counts.items():
            m.saga_instances.labels(saga, state).set(count)
        m.parked_instances.clear()
        for saga, count in parked.items():
            m.parked_instances.labels(saga).set(count)
        m.outbox_backlog.set(backlog)
        late = 0.0 if next_due is None else (utcnow() - next_due).total_seconds()
        m.timer_delay.set(max(0.0, late))
