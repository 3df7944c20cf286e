"""What every role of a SQLite transaction shares: the connection, refused once the
transaction has ended, and small query helpers. Statements run on the event loop's
thread (`bus.store.sqlite.driver`): the helpers are plain functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bus.store.codec import RowCodec, parse_time_text, time_text
from bus.store.sqlite.driver import SQLiteConnection

CODEC = RowCodec(time_out=time_text, time_in=parse_time_text)

ROWS_PER_INSERT = 500
"""Rows per multi-row INSERT (SQLite allows 32,766 parameters per statement)."""


class SQLiteRole:
    """Base of each role's implementation: holds the transaction's connection."""

    def __init__(self, conn: SQLiteConnection) -> None:
        self._c = conn
        self._savepoints = 0
        self.closed = False

    @property
    def _conn(self) -> SQLiteConnection:
        if self.closed:
            raise RuntimeError("transaction used after it ended")
        return self._c

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._conn.fetchall(sql, params)

    def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, params)
        return rows[0][0] if rows else None

    def _changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = self._conn.execute(sql, params)
        return cursor.rowcount

    def _insert_many(self, sql: str, rows: list[tuple[Any, ...]]) -> list[int]:
        """Inserts `rows` (`sql` is an INSERT of one `VALUES (?, ...)` group) as one
        multi-row statement per `ROWS_PER_INSERT` rows; their rowids, in order, from
        `RETURNING` (rowids of one statement's rows grow in the order they are inserted)."""
        head, group = sql.rsplit("VALUES", 1)
        ids: list[int] = []
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            returned = self._rows(
                f"{head}VALUES {', '.join([group.strip()] * len(chunk))} RETURNING rowid",
                [value for row in chunk for value in row],
            )
            ids.extend(sorted(row[0] for row in returned))
        return ids
