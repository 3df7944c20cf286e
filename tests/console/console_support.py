"""Stores with real data for the console's tests, and an HTTP client on the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bus.daemon import import_package
from bus.store.base import HistoryRecord, SagaRecord, SagaStatus, Store
from saga_dsl.engine.versions import load_machines
from saga_dsl.machine import Machine
from sagabus.console import create_app
from sagabus.console.dead_letters import DeadLetterSource

SAGAS = Path(__file__).resolve().parents[2] / "sagas"
SAGA = "order_processing"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

HOSTILE = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert('pwned')</script>"


def order_machines() -> list[Machine]:
    import_package("handlers")  # registers the contracts the saga file is checked against
    return load_machines(SAGAS)


@asynccontextmanager
async def console_client(
    store: Store, machines: list[Machine], dead_letters: DeadLetterSource | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the console app, in this event loop (the store is bound to it)."""
    app = create_app(store, machines, dead_letters=dead_letters)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client


def record(
    n: int, *, state: str = "awaiting_payment", status: SagaStatus = "running", **changes: object
) -> SagaRecord:
    created = T0 + timedelta(seconds=n)
    fields: dict[str, object] = {
        "id": f"inst-{n:04d}",
        "saga": SAGA,
        "definition_version": 1,
        "correlation": f"o-{n}",
        "state": state,
        "status": status,
        "data": {"order_id": f"o-{n}"},
        "created_at": created,
        "updated_at": created,
    }
    fields.update(changes)
    return SagaRecord(**fields)  # type: ignore[arg-type]


async def write(store: Store, *records: SagaRecord, history: list[HistoryRecord] = ()) -> None:  # type: ignore[assignment]
    async with store.transaction() as tx:
        for r in records:
            await tx.saga_insert(r)
        await tx.history_append(history)
