"""Read-only queries for browsing saga instances (the web console), on any backend.

Lists are newest first and paged by keyset: a page ends with a cursor naming its last
row `(created_at, id)`, and the next page starts strictly after it. Each page is one
index range scan (`bus.store.browse_schema` holds the indexes), so the thousandth page of
a million instances costs what the first one does, unlike OFFSET paging.

The queries run through `Transaction.read_rows`, written with `?` placeholders in SQL
that both SQLite and PostgreSQL take.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from bus.store.base import SagaStatus, Transaction

MAX_PAGE = 500
"""The largest page a caller may ask for."""


class BadCursor(ValueError):
    """A cursor that no page of `saga_page` produced."""


@dataclass(frozen=True, slots=True)
class SagaFilter:
    """Which instances to list; None matches everything."""

    saga: str | None = None
    version: int | None = None
    state: str | None = None
    status: SagaStatus | None = None
    correlation: str | None = None


@dataclass(frozen=True, slots=True)
class SagaSummary:
    """An instance as a list shows it: no data, no bookkeeping."""

    id: str
    saga: str
    definition_version: int
    correlation: str
    state: str
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime


SUMMARY_COLUMNS = ", ".join(f.name for f in fields(SagaSummary))
"""The columns a summary is read from: its fields, in order."""


@dataclass(frozen=True, slots=True)
class SagaPage:
    instances: list[SagaSummary]
    next_cursor: str | None
    """Pass as `after` for the next page; None on the last page."""


@dataclass(frozen=True, slots=True)
class CensusRow:
    """How many instances of one saga version are in one state with one status."""

    saga: str
    definition_version: int
    state: str
    status: str
    count: int


def moment(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite keeps ISO text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a stored timestamp: {value!r}")
    return value.astimezone(UTC)


def encode_cursor(created_at: datetime, instance_id: str) -> str:
    raw = f"{moment(created_at).isoformat(timespec='microseconds')}|{instance_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The `(created_at, id)` a cursor names; `BadCursor` when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
        stamp, instance_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(f"not a page cursor: {cursor!r}") from exc
    if created_at.tzinfo is None or not instance_id:
        raise BadCursor(f"not a page cursor: {cursor!r}")
    return created_at.astimezone(UTC), instance_id


def _conditions(where: SagaFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("saga", where.saga),
        ("definition_version", where.version),
        ("state", where.state),
        ("status", where.status),
        ("correlation", where.correlation),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return clauses, params


def _summary(row: Any) -> SagaSummary:
    """A row in `SUMMARY_COLUMNS` order; the last two columns are its timestamps."""
    return SagaSummary(*row[:-2], *map(moment, row[-2:]))


def page_query(where: SagaFilter, after: str | None, limit: int) -> tuple[str, list[Any]]:
    """The statement of `saga_page` and its parameters (one row more than `limit`, to
    know whether another page follows)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"page size {limit} is outside 1..{MAX_PAGE}")
    clauses, params = _conditions(where)
    if after is not None:
        created_at, instance_id = decode_cursor(after)
        # the first test is a range on every index that ends in created_at; the second
        # only drops the rows of the cursor's own instant that came before it
        clauses.append("created_at <= ? AND (created_at < ? OR id < ?)")
        params.extend([created_at, created_at, instance_id])
    condition = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    sql = (
        f"SELECT {SUMMARY_COLUMNS} FROM saga_instance {condition}"
        "ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    return sql, [*params, limit + 1]


async def saga_page(
    tx: Transaction, where: SagaFilter, *, after: str | None = None, limit: int = 50
) -> SagaPage:
    """Instances matching `where`, newest first, starting after cursor `after`."""
    sql, params = page_query(where, after, limit)
    rows = await tx.read_rows(sql, params)
    instances = [_summary(row) for row in rows[:limit]]
    more = len(rows) > limit
    last = instances[-1] if instances else None
    cursor = encode_cursor(last.created_at, last.id) if more and last else None
    return SagaPage(instances=instances, next_cursor=cursor)


async def saga_census(tx: Transaction, *, saga: str | None = None) -> list[CensusRow]:
    """Instance counts by saga, version, state and status (all sagas, or one)."""
    condition, params = ("WHERE saga = ? ", [saga]) if saga is not None else ("", [])
    rows = await tx.read_rows(
        "SELECT saga, definition_version, state, status, count(*) FROM saga_instance "
        f"{condition}GROUP BY saga, definition_version, state, status "
        "ORDER BY saga, definition_version, state, status",
        params,
    )
    return [CensusRow(row[0], row[1], row[2], row[3], row[4]) for row in rows]


async def saga_names(tx: Transaction) -> list[str]:
    """Every saga that has at least one instance, by name."""
    rows = await tx.read_rows("SELECT DISTINCT saga FROM saga_instance ORDER BY saga")
    return [row[0] for row in rows]


async def matching_count(tx: Transaction, where: SagaFilter) -> int:
    """How many instances match `where`."""
    clauses, params = _conditions(where)
    condition = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await tx.read_rows(f"SELECT count(*) FROM saga_instance{condition}", params)
    return int(rows[0][0])
