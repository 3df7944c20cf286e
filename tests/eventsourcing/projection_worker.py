"""A projector process for the crash test: runs `TallyTotals` over a store batch by
batch, printing `checkpoint N` after each commit and `done N` when caught up.

    python -m tests.eventsourcing.projection_worker STORE_URL BATCH_SIZE [HANG_AT]

With HANG_AT, the handler stops forever (holding its open transaction) when it reaches
the event at that position and prints `inside N` first: the parent kills it there.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bus.eventsourcing import ProjectionRunner, RecordedEvent
from bus.store import open_store
from bus.store.base import Transaction

from .domain import TallyTotals


class HangingTotals(TallyTotals):
    def __init__(self, hang_at: int | None) -> None:
        self.hang_at = hang_at

    async def apply(self, tx: Transaction, recorded: RecordedEvent[Any]) -> None:
        await super().apply(tx, recorded)
        if recorded.position == self.hang_at:
            print(f"inside {recorded.position}", flush=True)
            await asyncio.Event().wait()


async def main(url: str, batch_size: int, hang_at: int | None) -> None:
    async with open_store(url) as store:
        runner = ProjectionRunner(store, HangingTotals(hang_at), batch_size=batch_size)
        print(f"start {(await runner.status()).position}", flush=True)
        while await runner.step() == "advanced":
            print(f"checkpoint {(await runner.status()).position}", flush=True)
        print(f"done {(await runner.status()).position}", flush=True)


if __name__ == "__main__":
    hang = int(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), hang))
