"""Chooses a store backend by URL: `sqlite:///path.db` or `postgresql://...`, and the
place of a bus namespace in it (`bus.store.namespaces`)."""

from __future__ import annotations

from typing import Protocol

from bus.errors import ConfigurationError
from bus.store.base import Store
from bus.store.namespaces import namespace_url

DEFAULT_STORE_URL = "sqlite:///./sagabus.db"


class StoreSettings(Protocol):
    """What `open_store` reads from settings (`bus.settings.Settings` has both)."""

    @property
    def store(self) -> str: ...

    @property
    def namespace(self) -> str: ...


def open_store(
    target: str | StoreSettings = DEFAULT_STORE_URL, *, namespace: str | None = None
) -> Store:
    """Returns an unopened store (`await store.open()` or `async with`) for a store URL
    or for settings, whose `store` URL and `namespace` it takes. The default namespace
    (or None) keeps its data where the URL points; another one has a schema or file of
    its own in the same database (see `bus.store.namespaces`). `namespace=` given with
    settings wins over theirs."""
    if isinstance(target, str):
        url = target
    else:
        url, namespace = target.store, namespace or target.namespace
    url = namespace_url(url, namespace)
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
