"""The overview's throughput: per saga version, instances started and finished per
minute by outcome (`bus.store.throughput`), each drawn as a text sparkline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bus.store.throughput import OUTCOMES, Throughput

BARS = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int]) -> str:
    """One bar per count, scaled to the largest; a minute with none is the lowest bar,
    a minute with any at least the second."""
    top = max(counts, default=0)
    if top == 0:
        return BARS[0] * len(counts)
    steps = len(BARS) - 2
    return "".join(BARS[0] if c == 0 else BARS[1 + round(c / top * steps)] for c in counts)


@dataclass
class VersionRates:
    """One saga version's row: its throughput by outcome (`OUTCOMES`)."""

    saga: str
    definition_version: int
    outcomes: dict[str, Throughput] = field(default_factory=dict)

    def cells(self) -> list[tuple[str, Throughput | None]]:
        return [(outcome, self.outcomes.get(outcome)) for outcome in OUTCOMES]


def by_version(rows: Sequence[Throughput]) -> list[VersionRates]:
    """The rows grouped by saga version, in the order given."""
    found: dict[tuple[str, int], VersionRates] = {}
    for row in rows:
        key = (row.saga, row.definition_version)
        found.setdefault(key, VersionRates(*key)).outcomes[row.outcome] = row
    return list(found.values())
