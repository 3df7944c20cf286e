"""Readiness: is the bus started, connected to the broker, its store answering and
every consumer running (`readiness`); or, with no bus, does the store answer
(`store_readiness`). `/readyz` answers with these verdicts (bus/observability/probes.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from bus.observability.redact import redact_text

if TYPE_CHECKING:
    from bus.store import Store
    from bus.unitofwork.runtime import Bus

STORE_TIMEOUT = 2.0
"""Seconds the store has to answer a readiness check."""


@dataclass(frozen=True)
class Readiness:
    """The verdict of `/readyz`: each check's finding, and the first failure's reason."""

    ready: bool
    checks: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def body(self) -> bytes:
        document: dict[str, object] = {
            "status": "ready" if self.ready else "not ready",
            "checks": self.checks,
        }
        if self.reason:
            document["reason"] = self.reason
        return orjson.dumps(document)


async def readiness(bus: Bus | None) -> Readiness:
    """Started, broker connected, store reachable, every consumer running."""
    if bus is None or not bus.running:
        return Readiness(False, {"bus": "not started"}, "the bus is not running")
    checks: dict[str, str] = {}
    reasons: list[str] = []
    if getattr(bus.transport, "connected", True):
        checks["broker"] = "connected"
    else:
        checks["broker"] = "disconnected"
        reasons.append("not connected to the broker")
    store_reason = await _store_check(bus.store, checks)
    if store_reason:
        reasons.append(store_reason)
    running = sum(1 for p in bus.pipelines if p.consuming)
    checks["consumers"] = f"{running} of {len(bus.pipelines)} running"
    if running < len(bus.pipelines):
        stopped = [p.endpoint.name for p in bus.pipelines if not p.consuming]
        reasons.append(f"consumers stopped: {', '.join(stopped)}")
    return Readiness(not reasons, checks, "; ".join(reasons) or None)


async def store_readiness(store: Store) -> Readiness:
    """With no bus (`sagabus console`): ready while the store answers."""
    checks: dict[str, str] = {}
    reason = await _store_check(store, checks)
    return Readiness(reason is None, checks, reason)


async def _store_check(store: Store, checks: dict[str, str]) -> str | None:
    """Writes the store's finding into `checks`; the reason it failed, if it did."""
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            async with store.transaction() as tx:
                await tx.outbox_backlog()
    except Exception as exc:
        checks["store"] = "unreachable"
        return redact_text(f"store: {type(exc).__name__}: {exc}")[:200]
    checks["store"] = "reachable"
    return None
