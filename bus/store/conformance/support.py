"""What every conformance case shares: the fixtures that open the backend under test,
and builders of the records the cases store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import strategies as st

from bus.store.base import HistoryRecord, NewEvent, SagaRecord, Store, TimerRecord
from bus.store.factory import open_store
from bus.wire.envelope import Envelope

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def envelope(n: int = 0, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "type": "OrderPlaced",
        "kind": "event",
        "payload": {"n": n},
        "correlation_id": "order-1",
    }
    fields.update(changes)
    return Envelope(**fields)


def saga(correlation: str = "order-1", *, id: str | None = None, **changes: Any) -> SagaRecord:
    fields: dict[str, Any] = {
        "id": id or f"inst-{correlation}",
        "saga": "order_processing",
        "definition_version": 1,
        "correlation": correlation,
        "state": "awaiting_payment",
    }
    fields.update(changes)
    return SagaRecord(**fields)


def step(instance_id: str, to_state: str, *, input: str = "PaymentSucceeded") -> HistoryRecord:
    return HistoryRecord(
        instance_id=instance_id,
        at=T0,
        input=input,
        message_id=f"msg-{to_state}",
        from_state="awaiting_payment",
        to_state=to_state,
        effects=[{"send": "ReserveStock", "to": to_state}],
    )


def timer(name: str, due: datetime, instance_id: str = "inst-1", **payload: Any) -> TimerRecord:
    return TimerRecord(
        instance_id=instance_id, saga="order_processing", name=name, due_at=due, payload=payload
    )


def new_events(*types: str, writer: str = "w") -> list[NewEvent]:
    return [
        NewEvent(type=t, payload={"i": i}, metadata={"writer": writer}) for i, t in enumerate(types)
    ]


class Boom(Exception):
    """Raised inside a unit of work to make it roll back."""


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)


JSON_OBJECTS = st.dictionaries(
    st.text(),
    st.recursive(
        JSON_SCALARS,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    max_size=6,
)


class StoreCase:
    """Base of every case class. A backend's test class provides the `store_url`
    fixture: the URL of a fresh, empty database for one test (nothing created yet).
    A backend that `bus.store.open_store` does not know overrides `open_backend`."""

    pytestmark = pytest.mark.asyncio

    def open_backend(self, store_url: str, namespace: str | None = None) -> Store:
        """An unopened store on `store_url` (in `namespace`, None for the default)."""
        return open_store(store_url, namespace=namespace)

    @pytest_asyncio.fixture
    async def store(self, store_url: str) -> AsyncIterator[Store]:
        async with self.open_backend(store_url) as store:
            yield store

    @pytest_asyncio.fixture
    async def other_store(self, store: Store, store_url: str) -> AsyncIterator[Store]:
        """A second connection to the same database, as another process would have."""
        async with self.open_backend(store_url) as other:
            yield other
