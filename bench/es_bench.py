"""Event sourcing throughput: appends, replays, snapshots, projections (DESIGN 8, 10).

Run from the repository root: `python -m bench.es_bench [--events N] [--json]`.
Per backend, durable commits included, through the public API (`EventStore`,
`Repository`, `ProjectionRunner`), so decoding, validation and the outbox row of each
published event are part of every figure:

- append: one event per transaction, and 100 events per transaction (events/s);
- command: load an aggregate, record one event, save it, one per transaction (/s);
- replay: read a stream of N events (default 10,000) from the store only; load it
  through the aggregate (read, upcast, validate, apply), with events stored at the
  current version and at version 1 (upcast on read) (events/s);
- the load time of that stream without snapshots and with one every 100 events, at
  the head and at the worst point (99 events after a snapshot);
- projection catch-up over the whole log, 500 events per transaction (events/s).

PostgreSQL is measured at `SAGABUS_BENCH_POSTGRES` (default
`postgresql://postgres@127.0.0.1:5432/test`) in a throw-away schema, and skipped when
unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import orjson
from pydantic import BaseModel

from bus.eventsourcing import (
    Aggregate,
    EventStore,
    Projection,
    ProjectionRunner,
    RecordedEvent,
    Repository,
    applies,
    on,
)
from bus.store import Store, Transaction, open_store
from bus.store.base import NewEvent
from bus.wire.contracts import Event, registry

POSTGRES_URL = os.environ.get("SAGABUS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
STREAMS = 100
"""Streams the append and command measures spread over."""
REPEATS = 5
"""Replays and loads are timed this many times; the median is reported."""


# -- the benchmark's domain: counters that count ------------------------------------------
class BenchCounted(Event):
    __version__ = 2
    counter_id: str
    n: int
    note: str


@registry.upcaster("BenchCounted", 1)
def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # version 1 called the note "comment"
    renamed = {k: v for k, v in payload.items() if k != "comment"}
    return {**renamed, "note": payload.get("comment", "")}


class CounterState(BaseModel):
    count: int = 0
    total: int = 0


class Counter(Aggregate[CounterState]):
    category = "bench"

    def initial_state(self) -> CounterState:
        return CounterState()

    def count(self, n: int) -> None:
        self.record(BenchCounted(counter_id=self.id, n=n, note="benchmark"))

    @applies(BenchCounted)
    def _counted(self, event: BenchCounted) -> None:
        self.state.count += 1
        self.state.total += event.n


class SnapshottedCounter(Counter):
    category = "benchsnap"
    snapshot_every = 100


class CounterTotals(Projection):
    name = "bench-counter-totals"
    namespaces: ClassVar[tuple[str, ...]] = ("bench.totals",)

    @on(BenchCounted)
    async def counted(self, tx: Transaction, recorded: RecordedEvent[BenchCounted]) -> None:
        doc = await tx.state_get("bench.totals", recorded.stream_id) or {"count": 0, "total": 0}
        doc["count"] += 1
        doc["total"] += recorded.event.n
        await tx.state_put("bench.totals", recorded.stream_id, doc)


# -- measures -------------------------------------------------------------------------------
async def seconds(work: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await work()
    return time.perf_counter() - start


async def median_seconds(work: Callable[[], Awaitable[object]]) -> float:
    return statistics.median([await seconds(work) for _ in range(REPEATS)])


def _counted(counter_id: str, n: int) -> BenchCounted:
    return BenchCounted(counter_id=counter_id, n=n, note="benchmark")


async def append_single(store: Store, events: int) -> float:
    versions = [0] * STREAMS

    async def work() -> None:
        for i in range(events):
            s = i % STREAMS
            async with store.transaction() as tx:
                await EventStore(tx).append(f"one-{s}", [_counted(str(s), i)], versions[s])
            versions[s] += 1

    return events / await seconds(work)


async def append_batched(store: Store, events: int, per_tx: int = 100) -> float:
    batches = events // per_tx

    async def work() -> None:
        for b in range(batches):
            s, version = b % STREAMS, (b // STREAMS) * per_tx
            batch = [_counted(str(s), n) for n in range(per_tx)]
            async with store.transaction() as tx:
                await EventStore(tx).append(f"many-{s}", batch, version)

    return batches * per_tx / await seconds(work)


async def commands(store: Store, count: int) -> float:
    async def work() -> None:
        for i in range(count):
            async with store.transaction() as tx:
                repository = Repository(Counter, tx)
                counter = await repository.load(f"c{i % STREAMS}")
                counter.count(i)
                await repository.save(counter)

    return count / await seconds(work)


async def write_stream(store: Store, aggregate: type[Counter], id: str, events: int) -> None:
    """`events` events in saves of 100 (a snapshot at every 100 when the type takes them)."""
    for start in range(0, events, 100):
        async with store.transaction() as tx:
            repository = Repository(aggregate, tx)
            counter = await repository.load(id)
            for n in range(start, min(start + 100, events)):
                counter.count(n)
            await repository.save(counter, publish=False)


async def write_v1_stream(store: Store, stream_id: str, events: int) -> None:
    for start in range(0, events, 500):
        batch = [
            NewEvent(
                type="BenchCounted",
                payload={"counter_id": "v1", "n": n, "comment": "old"},
                schema_version=1,
            )
            for n in range(start, min(start + 500, events))
        ]
        async with store.transaction() as tx:
            await tx.events_append(stream_id, batch, start)


async def load(
    store: Store, aggregate: type[Counter], id: str, as_of: int | None = None
) -> Counter:
    async with store.transaction() as tx:
        return await Repository(aggregate, tx).load(id, as_of=as_of)


async def measure(url: str, events: int) -> dict[str, float]:
    results: dict[str, float] = {}
    async with open_store(url) as store:
        results["append, 1 event/tx (events/s)"] = await append_single(store, max(events // 5, 100))
        results["append, 100 events/tx (events/s)"] = await append_batched(store, events)
        results["command: load + save 1 event, 1/tx (/s)"] = await commands(
            store, max(events // 5, 100)
        )

        await write_stream(store, Counter, "long", events)
        await write_stream(store, SnapshottedCounter, "long", events)
        await write_v1_stream(store, "bench-old", events)

        async def read_only() -> None:
            async with store.transaction() as tx:
                assert len(await tx.events_read("bench-long")) == events

        async def full_load() -> None:
            assert (await load(store, Counter, "long")).version == events

        async def upcast_load() -> None:
            assert (await load(store, Counter, "old")).version == events

        async def snapshot_head() -> None:
            assert (await load(store, SnapshottedCounter, "long")).version == events

        async def snapshot_worst() -> None:
            counter = await load(store, SnapshottedCounter, "long", as_of=events - 1)
            assert counter.version == events - 1

        read_s = await median_seconds(read_only)
        full_s = await median_seconds(full_load)
        results["replay: store read only (events/s)"] = events / read_s
        results["replay: through the aggregate (events/s)"] = events / full_s
        results["replay: v1 events upcast to v2 (events/s)"] = events / await median_seconds(
            upcast_load
        )
        results[f"load {events}-event stream, no snapshot (ms)"] = full_s * 1000
        results["load, snapshot every 100, at head (ms)"] = (
            await median_seconds(snapshot_head) * 1000
        )
        results["load, snapshot every 100, 99 after it (ms)"] = (
            await median_seconds(snapshot_worst) * 1000
        )

        async with store.transaction() as tx:
            log = len(await tx.events_after(0, limit=10_000_000))
        runner = ProjectionRunner(store, CounterTotals(), batch_size=500)
        results[f"projection catch-up over {log} events (events/s)"] = log / await seconds(
            runner.catch_up
        )
    return results


async def postgres_url() -> tuple[str, str] | None:
    """A URL with a fresh schema on the bench server, and the schema; None if down."""
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: unreachable at {POSTGRES_URL}: {exc}")
        return None
    await conn.close()
    schema = f"esbench_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}schema={schema}", schema


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def main(events: int, as_json: bool) -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        results["sqlite"] = await measure(f"sqlite:///{Path(directory) / 'es.db'}", events)
    target = await postgres_url()
    if target is not None:
        url, schema = target
        try:
            results["postgresql"] = await measure(url, events)
        finally:
            await drop_schema(schema)
    if as_json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
        return
    backends = list(results)
    names = list(results["sqlite"])
    width = max(map(len, names))
    print(f"{'measure':<{width}}" + "".join(f"{b:>12}" for b in backends))
    for name in names:
        print(f"{name:<{width}}" + "".join(f"{results[b][name]:>12,.1f}" for b in backends))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=10_000, help="events of the long stream (10,000)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.json))
