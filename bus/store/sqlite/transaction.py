"""A SQLite transaction: the four roles on one connection, and savepoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from bus.store.base import Transaction
from bus.store.codec import time_text
from bus.store.sqlite.events import SQLiteEvents
from bus.store.sqlite.messaging import SQLiteMessaging
from bus.store.sqlite.sagas import SQLiteSagas
from bus.store.sqlite.service_state import SQLiteServiceState


class SQLiteTransaction(
    SQLiteMessaging, SQLiteServiceState, SQLiteSagas, SQLiteEvents, Transaction
):
    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._conn.execute(f"ROLLBACK TO {name}")
            self._conn.execute(f"RELEASE {name}")
            raise
        self._conn.execute(f"RELEASE {name}")

    async def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        values = [time_text(p) if isinstance(p, datetime) else p for p in params]
        return self._rows(sql, values)
