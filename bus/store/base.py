"""The store interface every backend implements (SQLite, PostgreSQL).

Everything durable goes through a `Transaction`, which plays four roles, one module
each: messaging (`bus.store.messaging`: inbox, outbox), service state
(`bus.store.service_state`), sagas (`bus.store.sagas`: instances, history, timers) and
events (`bus.store.events`: streams, snapshots, projections). A unit of work is one
transaction, and a batch of deliveries may share one transaction with a savepoint per
delivery (group commit, DESIGN section 10): a single message is a batch of one.

The behaviour is pinned by the conformance test cases in `bus.store.conformance`, one
per role, which both backends (and an outside one) subclass in their tests.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from bus.errors import ConcurrencyError
from bus.store.events import Events
from bus.store.messaging import Messaging
from bus.store.records import (
    HistoryRecord,
    NewEvent,
    ProjectionRecord,
    SagaRecord,
    SagaStatus,
    StepWrites,
    StoredEvent,
    TimerRecord,
)
from bus.store.sagas import Sagas
from bus.store.service_state import ServiceState

__all__ = [
    "CONFLICT_ERRORS",
    "Events",
    "HistoryRecord",
    "Messaging",
    "NewEvent",
    "ProjectionRecord",
    "SagaRecord",
    "SagaStatus",
    "Sagas",
    "ServiceState",
    "StepWrites",
    "Store",
    "StoredEvent",
    "TimerRecord",
    "Transaction",
    "is_conflict",
]

CONFLICT_ERRORS = frozenset({"DeadlockDetectedError", "SerializationError"})
"""Driver errors (asyncpg's names) that mean "lost a race with another transaction"."""


def is_conflict(exc: BaseException) -> bool:
    """True when `exc` says the unit of work lost a race (an optimistic version check,
    a deadlock, a serialization failure): running it again is the cure."""
    return isinstance(exc, ConcurrencyError) or type(exc).__name__ in CONFLICT_ERRORS


class Transaction(Messaging, ServiceState, Sagas, Events):
    """One atomic unit of work in all four roles. Leaving `Store.transaction()`
    normally commits; an exception rolls back everything done in it."""

    @abc.abstractmethod
    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested unit: an exception inside undoes only what was done inside."""

    # -- browsing (the console) ----------------------------------------------------------
    async def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query written with `?` placeholders; datetimes among
        `params` are written as the backend stores them. The console's queries
        (`bus.store.browse`) run through this."""
        raise NotImplementedError(f"{type(self).__name__} cannot run browsing queries")


class Store(abc.ABC):
    """A connection to one database; `open()` creates or migrates the schema."""

    url: str

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
