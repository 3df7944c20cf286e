"""A PostgreSQL transaction: the four roles on one connection, and savepoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bus.store.base import Transaction
from bus.store.postgres.events import PostgresEvents
from bus.store.postgres.messaging import PostgresMessaging
from bus.store.postgres.sagas import PostgresSagas
from bus.store.postgres.service_state import PostgresServiceState


class PostgresTransaction(
    PostgresMessaging, PostgresServiceState, PostgresSagas, PostgresEvents, Transaction
):
    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self._conn.transaction():
            yield
