"""What every role of a SQLite transaction shares: the connection, refused once the
transaction has ended, and small query helpers."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from bus.store.codec import RowCodec, parse_time_text, time_text

CODEC = RowCodec(time_out=time_text, time_in=parse_time_text)


class SQLiteRole:
    """Base of each role's implementation: holds the transaction's connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._c = conn
        self._savepoints = 0
        self.closed = False

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self.closed:
            raise RuntimeError("transaction used after it ended")
        return self._c

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    async def _changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def _insert_many(self, sql: str, rows: list[tuple[Any, ...]]) -> list[int]:
        """Inserts `rows` with one statement; their rowids, in order."""
        await self._conn.executemany(sql, rows)
        last: int = await self._value("SELECT last_insert_rowid()")
        return list(range(last - len(rows) + 1, last + 1))
