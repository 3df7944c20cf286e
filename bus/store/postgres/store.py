"""The PostgreSQL store's connection pool, URL and transactions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bus.errors import ConfigurationError
from bus.store.base import Store, Transaction
from bus.store.postgres.schema import migrate
from bus.store.postgres.transaction import PostgresTransaction

DEFAULT_POOL_SIZE = 10
"""Connections per store unless the URL (`?pool_size=`) or the caller says otherwise."""

SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")
"""Schema names the URL may give: those of namespaces (`bus.store.namespaces`) included."""


def parse_url(url: str) -> tuple[str, str | None, int | None]:
    """The DSN for asyncpg, the schema and the pool size the URL names."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {name: value for name, value in query if name in ("schema", "pool_size")}
    dsn = urlunsplit(
        parts._replace(
            query=urlencode([(n, v) for n, v in query if n not in ("schema", "pool_size")])
        )
    )
    schema = options.get("schema")
    if schema is not None and not SCHEMA_NAME.fullmatch(schema):
        raise ConfigurationError(
            f"bad schema {schema!r} in the store URL: use letters, digits, _, . and - "
            "(at most 63), starting with a letter or _"
        )
    size = options.get("pool_size")
    if size is not None and not (size.isdigit() and int(size) > 0):
        raise ConfigurationError(f"bad pool_size {size!r} in the store URL: use a number > 0")
    return dsn, schema, None if size is None else int(size)


def redact(url: str) -> str:
    """`url` without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def _keep_session(conn: Any) -> None:
    """What the pool does to a connection it gets back, besides rolling back a
    transaction left open (asyncpg does that itself): nothing. asyncpg's default
    reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) is one round
    trip per transaction, and the store leaves none of that behind: its advisory locks
    are transaction-level, it declares no cursors, listens to nothing and sets no
    session settings beyond the connection's own (`search_path`,
    `application_name`)."""


class PostgresStore(Store):
    """A store in one PostgreSQL database (see the module docstring for its guarantees)."""

    def __init__(self, url: str, *, pool_size: int | None = None) -> None:
        self.url = url
        self._dsn, self.schema, url_pool_size = parse_url(url)
        self.pool_size = pool_size or url_pool_size or DEFAULT_POOL_SIZE
        self._pool: Any = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"application_name": "sagabus"}
        if self.schema is not None:
            settings["search_path"] = f'"{self.schema}"'
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self.pool_size, server_settings=settings,
                reset=_keep_session,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ConfigurationError(
                f"cannot connect to PostgreSQL store {redact(self.url)}: {exc}"
            ) from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await migrate(conn, self.schema)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self._pool is None:
            raise RuntimeError(f"store {redact(self.url)} is not open: await store.open() first")
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn)
