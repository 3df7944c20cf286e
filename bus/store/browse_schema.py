"""Indexes the console's browsing queries (`bus.store.browse`, `bus.store.throughput`)
need, in SQL that both backends take. Each tuple is one schema step of each backend's
migrations."""

from __future__ import annotations

BROWSE_INDEXES: tuple[str, ...] = (
    # instances of one saga, newest first (keyset paging on created_at, id)
    "CREATE INDEX saga_instance_saga_created ON saga_instance (saga, created_at, id)",
    # the census reads only this index, never the rows
    "CREATE INDEX saga_instance_census ON saga_instance (saga, definition_version, state, status)",
    # an instance found by its correlation value across sagas
    "CREATE INDEX saga_instance_correlation ON saga_instance (correlation, created_at)",
)

THROUGHPUT_INDEXES: tuple[str, ...] = (
    # instances of one saga version started in a minute (`bus.store.throughput`): one
    # range of this index per minute, counted without reading a row
    "CREATE INDEX saga_instance_started ON saga_instance (saga, definition_version, created_at)",
    # the same for those finished with a status; only finished rows are in it, so a
    # running instance's steps never touch it
    "CREATE INDEX saga_instance_finished ON saga_instance "
    "(saga, definition_version, status, updated_at) WHERE status IN ('completed', 'failed')",
)
