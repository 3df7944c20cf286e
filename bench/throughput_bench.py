"""The overview's started and finished per minute with every instance in the window.

    python -m bench.throughput_bench [--instances 100000] [--repeat 20] [--analyze]
                                     [--store URL]

Inserts `--instances` instances through the store API, created within the last 14
minutes (a third each completed, failed and running, two versions of one saga), then
reads the throughput (`bus.store.throughput.saga_throughput`) and, as the baseline of
the same run, the census the overview reads anyway (`bus.store.browse.saga_census`),
`--repeat` times each, and prints their medians and ratio. `--analyze` runs ANALYZE
first (PostgreSQL plans these counts well only with the table's statistics). Without
`--store` a temporary SQLite file is used; a given store is filled and kept.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bus.store import SagaRecord, open_store
from bus.store.base import SagaStatus, Store, Transaction
from bus.store.browse import saga_census
from bus.store.throughput import saga_throughput
from bus.wire.envelope import utcnow

BATCH = 2_000
STATUSES: tuple[SagaStatus, ...] = ("completed", "failed", "running")
VERSIONS = [("order", 1), ("order", 2)]


async def fill(store: Store, instances: int) -> None:
    now = utcnow()
    for first in range(0, instances, BATCH):
        async with store.transaction() as tx:
            for n in range(first, min(instances, first + BATCH)):
                at = now - timedelta(seconds=n * 840 / instances)
                await tx.saga_insert(
                    SagaRecord(id=f"r-{n}", saga="order", definition_version=1 + n % 2,
                               correlation=f"c-{n}", state="s", status=STATUSES[n % 3],
                               created_at=at, updated_at=at + timedelta(seconds=1))
                )  # fmt: skip


async def median_ms(store: Store, read: Callable[[Transaction], Awaitable[Any]], repeat: int
                    ) -> float:  # fmt: skip
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        async with store.transaction() as tx:
            await read(tx)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def run(url: str, instances: int, repeat: int, analyze: bool) -> None:
    async with open_store(url) as store:
        start = time.perf_counter()
        await fill(store, instances)
        print(f"filled {instances:,} instances in {time.perf_counter() - start:.0f}s")
        if analyze:
            async with store.transaction() as tx:
                await tx.read_rows("ANALYZE saga_instance")
        throughput = await median_ms(
            store, lambda tx: saga_throughput(tx, VERSIONS, utcnow()), repeat
        )
        census = await median_ms(store, saga_census, repeat)
    print(f"{url.split(':', 1)[0]}, {repeat} reads each, medians:")
    print(f"  started and finished per minute {throughput:8.1f} ms")
    print(f"  census (baseline)               {census:8.1f} ms")
    print(f"  ratio                           {throughput / census:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--analyze", action="store_true")
    parser.add_argument("--store", default=None, help="a store URL (filled and kept)")
    args = parser.parse_args()
    if args.store is not None:
        asyncio.run(run(args.store, args.instances, args.repeat, args.analyze))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'throughput_bench.db'}"
        asyncio.run(run(url, args.instances, args.repeat, args.analyze))


if __name__ == "__main__":
    main()
