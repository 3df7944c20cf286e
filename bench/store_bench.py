"""Throughput of the store backends on the hot paths (DESIGN section 10).

Run from the repository root: `python -m bench.store_bench [--rows N]`. Measures, per
backend, durable commits included:

- outbox: `outbox_add` of a batch, then `outbox_pending` + `outbox_mark_sent` of it;
- inbox: one delivery per transaction, and a batch of deliveries sharing a transaction
  with a savepoint each (group commit);
- event store: appending batches to streams, and replaying them.

PostgreSQL is measured at `SAGABUS_BENCH_POSTGRES` (default
`postgresql://postgres@127.0.0.1:5432/test`) in a throw-away schema, and skipped when
unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bus.store import Store, open_store
from bus.store.base import NewEvent
from bus.wire.envelope import Envelope

POSTGRES_URL = os.environ.get("SAGABUS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 100
"""Rows per transaction in the batched measurements."""


async def timed(count: int, work: Callable[[], Awaitable[None]]) -> float:
    """`count` items of `work` per second."""
    start = time.perf_counter()
    await work()
    return count / (time.perf_counter() - start)


async def outbox(store: Store, rows: int) -> float:
    async def work() -> None:
        for _ in range(rows // BATCH):
            envelopes = [
                Envelope(type="OrderPlaced", kind="event", payload={"order_id": n, "total": 9.5})
                for n in range(BATCH)
            ]
            async with store.transaction() as tx:
                await tx.outbox_add(envelopes)
            async with store.transaction() as tx:
                pending = await tx.outbox_pending(limit=BATCH)
                await tx.outbox_mark_sent([row_id for row_id, _ in pending])

    return await timed(rows // BATCH * BATCH, work)


async def inbox_single(store: Store, rows: int) -> float:
    async def work() -> None:
        for _ in range(rows):
            async with store.transaction() as tx:
                await tx.inbox_add("payments", str(uuid.uuid4()))

    return await timed(rows, work)


async def inbox_grouped(store: Store, rows: int) -> float:
    async def work() -> None:
        for _ in range(rows // BATCH):
            async with store.transaction() as tx:
                for _ in range(BATCH):
                    async with tx.savepoint():
                        await tx.inbox_add("shipping", str(uuid.uuid4()))

    return await timed(rows // BATCH * BATCH, work)


async def event_append(store: Store, rows: int, streams: list[str]) -> float:
    per_stream = rows // len(streams)

    async def work() -> None:
        for stream in streams:
            for version in range(0, per_stream, 10):
                events = [
                    NewEvent(type="ItemAdded", payload={"sku": f"s{i}", "qty": 1})
                    for i in range(10)
                ]
                async with store.transaction() as tx:
                    await tx.events_append(stream, events, version)

    return await timed(per_stream // 10 * 10 * len(streams), work)


async def event_replay(store: Store, streams: list[str]) -> float:
    replayed = 0

    async def work() -> None:
        nonlocal replayed
        for stream in streams:
            async with store.transaction() as tx:
                replayed += len(await tx.events_read(stream))

    start = time.perf_counter()
    await work()
    return replayed / (time.perf_counter() - start)


async def measure(url: str, rows: int) -> dict[str, float]:
    streams = [f"order-{n}" for n in range(max(1, rows // 100))]
    async with open_store(url) as store:
        return {
            f"outbox add + mark sent, {BATCH}/tx (rows/s)": await outbox(store, rows),
            "inbox_add, 1 delivery/tx (tx/s)": await inbox_single(store, rows // 5),
            f"inbox_add, {BATCH} deliveries/tx + savepoints (deliveries/s)": await inbox_grouped(
                store, rows
            ),
            "event append, 10/tx (events/s)": await event_append(store, rows, streams),
            "event replay, per stream (events/s)": await event_replay(store, streams),
        }


async def postgres_url() -> tuple[str, str] | None:
    """A URL with a fresh schema on the bench server, and the schema; None if down."""
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: unreachable at {POSTGRES_URL}: {exc}")
        return None
    await conn.close()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}schema={schema}", schema


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def main(rows: int) -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        results["sqlite"] = await measure(f"sqlite:///{Path(directory) / 'bench.db'}", rows)
    target = await postgres_url()
    if target is not None:
        url, schema = target
        try:
            results["postgresql"] = await measure(url, rows)
        finally:
            await drop_schema(schema)
    backends = list(results)
    names = list(results["sqlite"])
    width = max(map(len, names))
    print(f"{'measure':<{width}}" + "".join(f"{b:>12}" for b in backends))
    for name in names:
        print(f"{name:<{width}}" + "".join(f"{results[b][name]:>12,.0f}" for b in backends))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="rows per measure (5000)")
    asyncio.run(main(parser.parse_args().rows))
