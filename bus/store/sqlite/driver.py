"""The SQLite store's connection: statements on the event loop's thread, waits on a
thread of the connection's own.

A statement inside a transaction that holds SQLite's write lock (`BEGIN IMMEDIATE`)
does not wait for anyone (WAL: readers never block the writer) and takes
microseconds, less than a hop to another thread and back would cost the loop (a
future, a `call_soon_threadsafe`, a wake-up of the loop). So the statements of a
transaction run inline, and only what may wait runs on the connection's thread, one
hop each: opening and migrating, `BEGIN IMMEDIATE` (which waits up to the busy
timeout for another process's write lock), `COMMIT` (the fsync of
`synchronous=FULL`, and the WAL checkpoints), `ROLLBACK` and closing. The thread runs
one call at a time, in the order they were made: a rollback asked for after a
cancelled commit runs after that commit. Durability is SQLite's own and unchanged.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class SQLiteConnection:
    """One `sqlite3` connection in autocommit mode (transactions are explicit)."""

    def __init__(self, raw: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._raw = raw
        self._thread = thread
        self._submitted: list[Future[Any]] = []
        """The calls given to the thread and not yet done (run or cancelled unstarted)."""

    @classmethod
    async def connect(cls, path: str) -> SQLiteConnection:
        """Opens `path` on a new connection thread (raises `sqlite3.Error`)."""
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sagabus-sqlite")

        def connect() -> sqlite3.Connection:
            # used from the loop's thread and this one, never both at once
            return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

        try:
            raw = await asyncio.get_running_loop().run_in_executor(thread, connect)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return cls(raw, thread)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on the connection's thread (one hop)."""
        call = self._thread.submit(work, self._raw)
        self._pending().append(call)
        return await asyncio.wrap_future(call)

    def _pending(self) -> list[Future[Any]]:
        """The calls the thread is running or has queued (empty: the thread is idle; a
        call cancelled before it started never runs)."""
        self._submitted = [c for c in self._submitted if not c.done()]
        return self._submitted

    # -- inline: statements of a transaction ------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._raw.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self._raw.executemany(sql, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._raw.execute(sql, params).fetchall()

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction

    async def begin(self) -> None:
        """`BEGIN IMMEDIATE` (the write lock), after rolling back what a cancelled task
        may have left open: inline if the lock is free and the thread idle, else on the
        thread, waiting up to the busy timeout."""
        if not self._pending() and _begin_at_once(self._raw):
            return
        await self.run(_begin)

    # -- on the connection's thread: what may wait ---------------------------------------
    async def commit(self) -> None:
        await self.run(_commit)

    async def rollback(self) -> None:
        """Rolls back the open transaction, if there is one when the thread gets to it."""
        await self.run(_rollback)

    async def close(self) -> None:
        try:
            await self.run(sqlite3.Connection.close)
        finally:
            self._thread.shutdown(wait=False)


def _begin(raw: sqlite3.Connection) -> None:
    if raw.in_transaction:
        raw.rollback()
    raw.execute("BEGIN IMMEDIATE")


def _begin_at_once(raw: sqlite3.Connection) -> bool:
    """`_begin` without waiting for another process's write lock: False if it is held."""
    (timeout,) = raw.execute("PRAGMA busy_timeout").fetchone()
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        _begin(raw)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # extended codes too
            raise
        return False
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return True


def _commit(raw: sqlite3.Connection) -> None:
    raw.execute("COMMIT")


def _rollback(raw: sqlite3.Connection) -> None:
    if raw.in_transaction:
        raw.rollback()
