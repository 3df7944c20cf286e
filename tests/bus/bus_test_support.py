"""What the bus tests share besides fixtures: reading a service's state and the
outbox (the test's own broker handle is `support.broker.TestBroker`)."""

from __future__ import annotations

from typing import Any

from bus.store import Store


async def state(store: Store, namespace: str, key: str) -> dict[str, Any] | None:
    async with store.transaction() as tx:
        return await tx.state_get(namespace, key)


async def backlog(store: Store, rows: int) -> bool:
    """True when `rows` outbox rows are unsent."""
    async with store.transaction() as tx:
        return await tx.outbox_backlog() == rows
