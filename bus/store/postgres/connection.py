"""What every role of a PostgreSQL transaction shares: the connection and how to read
a command's status."""

from __future__ import annotations

import itertools
import re
from typing import Any

from bus.store.codec import RowCodec, utc

CODEC = RowCodec(time_out=utc, time_in=utc)


def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders numbered as PostgreSQL takes them (`$1`, `$2`...)."""
    count = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


def changed(status: str) -> int:
    """Rows a command touched, from its status tag (`INSERT 0 1`, `UPDATE 3`)."""
    return int(status.rsplit(" ", 1)[1])


class PostgresRole:
    """Base of each role's implementation: holds the transaction's asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._event_table_locked = False
        """Whether this transaction holds `LOCK TABLE event` (until it ends)."""
