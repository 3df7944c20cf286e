"""The PostgreSQL store: for several daemons on several machines sharing one database.

An asyncpg pool (`pool_size` connections, default `DEFAULT_POOL_SIZE`) at READ COMMITTED.
The URL may carry `?schema=NAME`, which is taken out of the DSN, created when missing
and put on the search path, so deployments (and tests) can share one database; and
`?pool_size=N`.

What several daemons rely on: `timers_due` and `outbox_pending` lock what they return
and skip rows another transaction holds (`FOR UPDATE SKIP LOCKED`), so a timer fires
once and a row is relayed by one relay at a time; `for_update` locks with
`SELECT ... FOR UPDATE`, and also locks a service document that does not exist yet.
Appending events takes an EXCLUSIVE lock on the event table until commit, so global
positions become visible in order and a projection that follows the log never skips
an event committed late.

One module per role (`messaging`, `service_state`, `sagas`, `events`) on a shared
connection base (`connection`), composed in `transaction`; `schema` holds the tables
and their migration, `store` the pool.
"""

from bus.store.postgres.schema import MIGRATIONS, SCHEMA_TABLE
from bus.store.postgres.store import DEFAULT_POOL_SIZE, PostgresStore, parse_url, redact
from bus.store.postgres.transaction import PostgresTransaction

__all__ = [
    "DEFAULT_POOL_SIZE",
    "MIGRATIONS",
    "SCHEMA_TABLE",
    "PostgresStore",
    "PostgresTransaction",
    "parse_url",
    "redact",
]
