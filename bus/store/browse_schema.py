"""Indexes the console's browsing queries (`bus.store.browse`) need, in SQL that both
backends take. They are one schema step of each backend's migrations."""

from __future__ import annotations

BROWSE_INDEXES: tuple[str, ...] = (
    # instances of one saga, newest first (keyset paging on created_at, id)
    "CREATE INDEX saga_instance_saga_created ON saga_instance (saga, created_at, id)",
    # the census reads only this index, never the rows
    "CREATE INDEX saga_instance_census ON saga_instance (saga, definition_version, state, status)",
    # an instance found by its correlation value across sagas
    "CREATE INDEX saga_instance_correlation ON saga_instance (correlation, created_at)",
)
