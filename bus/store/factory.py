"""Chooses a store backend by URL: `sqlite:///path.db` or `postgresql://...`."""

from __future__ import annotations

from bus.errors import ConfigurationError
from bus.store.base import Store

DEFAULT_STORE_URL = "sqlite:///./sagabus.db"


def open_store(url: str = DEFAULT_STORE_URL) -> Store:
    """Returns an unopened store for `url` (`await store.open()` or `async with`)."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from bus.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if scheme in ("postgresql", "postgres"):
        try:
            from bus.store.postgres import PostgresStore
        except ModuleNotFoundError as exc:
            if exc.name != "asyncpg":
                raise
            raise ConfigurationError(
                "a postgresql:// store needs asyncpg: pip install 'sagabus[postgres]'"
            ) from None

        return PostgresStore(url)
    raise ConfigurationError(
        f"unsupported store URL scheme {scheme!r}: use sqlite:///path.db or postgresql://..."
    )
