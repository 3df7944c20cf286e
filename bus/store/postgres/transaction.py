"""A PostgreSQL transaction: the four roles on one connection, and savepoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bus.store.base import Transaction
from bus.store.postgres.connection import numbered
from bus.store.postgres.events import PostgresEvents
from bus.store.postgres.messaging import PostgresMessaging
from bus.store.postgres.sagas import PostgresSagas
from bus.store.postgres.service_state import PostgresServiceState


class PostgresTransaction(
    PostgresMessaging, PostgresServiceState, PostgresSagas, PostgresEvents, Transaction
):
    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        locked = self._event_table_locked
        try:
            async with self._conn.transaction():
                yield
        except BaseException:
            # a lock taken inside the savepoint went with its rollback
            self._event_table_locked = locked
            raise

    async def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self._conn.fetch(numbered(sql), *params))
