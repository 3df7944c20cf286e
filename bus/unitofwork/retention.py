"""Retention: inbox rows and sent outbox rows older than the window are deleted
periodically (window: the `inbox_retention` setting, default 7 days).

A duplicate that arrives after its inbox row was purged is not recognised, so the
window must be longer than any redelivery can take.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bus.observability.logging import get_logger
from bus.store.base import Store
from bus.wire.envelope import utcnow

log = get_logger("sagabus.retention")


async def purge_once(store: Store, retention: float) -> tuple[int, int]:
    """Deletes inbox rows received, and outbox rows sent, more than `retention`
    seconds ago; returns how many of each."""
    cutoff = utcnow() - timedelta(seconds=retention)
    async with store.transaction() as tx:
        return await tx.inbox_purge(cutoff), await tx.outbox_purge(cutoff)


async def purge_periodically(store: Store, retention: float, interval: float) -> None:
    """Runs `purge_once` every `interval` seconds until cancelled."""
    while True:
        try:
            inbox, outbox = await purge_once(store, retention)
            if inbox or outbox:
                log.info("old rows purged", inbox=inbox, outbox=outbox)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("purge failed", error=str(exc))
        await asyncio.sleep(interval)
