"""The SQLite store's one connection, its URL and its transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bus.errors import ConfigurationError
from bus.store.base import Store, Transaction
from bus.store.sqlite.driver import SQLiteConnection
from bus.store.sqlite.schema import migrate
from bus.store.sqlite.transaction import SQLiteTransaction

BUSY_TIMEOUT_MS = 30_000
"""How long a statement waits for another process's write lock before it fails."""

URL_PREFIX = "sqlite:///"


def database_path(url: str) -> str:
    """The file of `sqlite:///relative/path.db`, `sqlite:////abs/path.db` or
    `sqlite:///:memory:`."""
    path = url[len(URL_PREFIX) :] if url.startswith(URL_PREFIX) else ""
    if not path:
        raise ConfigurationError(
            f"bad SQLite store URL {url!r}: use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    return path


class SQLiteStore(Store):
    """A store in one SQLite file (see the module docstring for its guarantees)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = database_path(url)
        self._conn: SQLiteConnection | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    async def open(self) -> None:
        if self._conn is not None:
            return
        try:
            conn = await SQLiteConnection.connect(self.path)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open SQLite store {self.path}: {exc}") from None
        path = self.path

        def prepare(raw: sqlite3.Connection) -> None:
            _configure(raw, path)
            migrate(raw)

        try:
            await conn.run(prepare)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                await conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self._conn is None:
            raise RuntimeError(f"store {self.url} is not open: await store.open() first")
        conn = self._conn
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError(
                "a transaction inside a transaction of the same SQLite store would wait "
                "for itself forever: use tx.savepoint()"
            )
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                # rolls back first what a cancelled task may have left open
                await conn.begin()
                tx = SQLiteTransaction(conn)
                try:
                    yield tx
                    # closed before COMMIT goes to the connection's thread: a task still
                    # holding `tx` must not run statements on the loop's thread meanwhile
                    tx.closed = True
                    await conn.commit()
                except BaseException:
                    tx.closed = True
                    await conn.rollback()
                    raise
            finally:
                self._owner = None


def _configure(conn: sqlite3.Connection, path: str) -> None:
    """The busy timeout, WAL and `synchronous=FULL` (on the connection's thread)."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(f"cannot open SQLite store {path}: {exc}") from None


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """Turns WAL on. SQLite does not call the busy handler for this switch, so two
    processes creating one file at once see "database is locked": wait and try again,
    as the busy timeout would have (on the connection's thread, which may sleep)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
