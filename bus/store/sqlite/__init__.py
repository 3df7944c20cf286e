"""The SQLite store: one file, zero set-up, the embedded default.

One connection per store, in WAL mode with `synchronous=FULL` (a committed unit of work
survives power loss). Transactions are serialised in the process by a lock and start
with `BEGIN IMMEDIATE`, which takes the file's write lock at once; another process on
the same file (a CLI reading status, a second daemon) waits up to `BUSY_TIMEOUT_MS`.
As only one transaction writes at a time, `for_update` needs no extra lock here and
ids handed out by one multi-row insert are consecutive.

One module per role (`messaging`, `service_state`, `sagas`, `events`) on a shared
connection base (`connection`), composed in `transaction`; `schema` holds the tables
and their migration, `store` the connection.
"""

from bus.store.sqlite.schema import MIGRATIONS, SCHEMA_TABLE
from bus.store.sqlite.store import BUSY_TIMEOUT_MS, URL_PREFIX, SQLiteStore, database_path
from bus.store.sqlite.transaction import SQLiteTransaction

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIGRATIONS",
    "SCHEMA_TABLE",
    "URL_PREFIX",
    "SQLiteStore",
    "SQLiteTransaction",
    "database_path",
]
