"""Durable state of the bus: one interface (`base`), one backend per module."""

from bus.store.base import (
    HistoryRecord,
    ProjectionRecord,
    SagaRecord,
    Store,
    StoredEvent,
    TimerRecord,
    Transaction,
)
from bus.store.factory import open_store

__all__ = [
    "HistoryRecord",
    "ProjectionRecord",
    "SagaRecord",
    "Store",
    "StoredEvent",
    "TimerRecord",
    "Transaction",
    "open_store",
]
