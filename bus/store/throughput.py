"""Instances started and finished per minute, by saga version and outcome: the
overview's throughput, read from the store on any backend.

A started instance is counted in the minute of its `created_at`; a finished one
(status completed or failed: its outcome) in the minute of its `updated_at`, the time
of its last step, which for a finished instance is when it finished. Minutes are whole
clock minutes (UTC), the last one the minute `now` is in.

Each count is a range of an index (`bus.store.browse_schema.THROUGHPUT_INDEXES`)
counted without reading a row, all of one saga version's in one statement of scalar
subqueries that both backends take. (Grouping the window's rows by a minute computed
per row needs a sort of every row in the window: ten times slower with 100,000.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from bus.store.base import Transaction
from bus.store.browse import moment

WINDOW_MINUTES = 15
"""Minutes the overview shows."""
OUTCOMES = ("started", "completed", "failed")

_COUNTS = {
    "started": "SELECT count(*) FROM saga_instance WHERE saga = ? AND definition_version = ? "
    "AND created_at >= ? AND created_at < ?",
    # the IN repeats the finished index's condition, so that SQLite may use it
    **{
        status: "SELECT count(*) FROM saga_instance WHERE status IN ('completed', 'failed') "
        f"AND saga = ? AND definition_version = ? AND status = '{status}' "
        "AND updated_at >= ? AND updated_at < ?"
        for status in ("completed", "failed")
    },
}


@dataclass(frozen=True, slots=True)
class Throughput:
    """One saga version's instances per minute for one outcome, oldest minute first."""

    saga: str
    definition_version: int
    outcome: str
    """"started", or the status a finished instance ended in: completed, failed."""
    per_minute: tuple[int, ...]


def minute_edges(now: datetime, minutes: int) -> list[datetime]:
    """The `minutes + 1` boundaries of the window: the start of each minute, then the
    end of the minute `now` is in."""
    if minutes < 1:
        raise ValueError(f"a window of {minutes} minutes is empty")
    end = moment(now).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [end - timedelta(minutes=minutes - i) for i in range(minutes + 1)]


def version_query(saga: str, version: int, edges: list[datetime]) -> tuple[str, list[Any]]:
    """One statement whose one row is the count of each outcome (`OUTCOMES`) in each
    minute between `edges`, outcome by outcome, oldest minute first."""
    parts: list[str] = []
    values: list[Any] = []
    for outcome in OUTCOMES:
        for start, end in pairwise(edges):
            parts.append(f"({_COUNTS[outcome]})")
            values.extend([saga, version, start, end])
    return f"SELECT {', '.join(parts)}", values


async def saga_throughput(
    tx: Transaction,
    versions: Iterable[tuple[str, int]],
    now: datetime,
    minutes: int = WINDOW_MINUTES,
) -> list[Throughput]:
    """For each (saga, version) of `versions` and each outcome, the instances of each
    of the `minutes` minutes up to `now`'s; outcomes with none in the window are left
    out."""
    edges = minute_edges(now, minutes)
    found: list[Throughput] = []
    for saga, version in dict.fromkeys(versions):
        sql, values = version_query(saga, version, edges)
        [row] = await tx.read_rows(sql, values)
        counts = [int(c) for c in row]
        for n, outcome in enumerate(OUTCOMES):
            per_minute = tuple(counts[n * minutes : (n + 1) * minutes])
            if any(per_minute):
                found.append(Throughput(saga, version, outcome, per_minute))
    return found
