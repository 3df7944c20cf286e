"""The console's page times on a big SQLite store.

    python -m bench.console_bench [--instances 100000] [--history-rows 1000000]
                                  [--repeat 30] [--db PATH]

Fills a SQLite store through the store API with `--instances` order-saga instances
spread over the saga's states (most finished, some waiting, 1% parked) and
`--history-rows` history rows among them, then asks the console for each page
`--repeat` times, in process through the ASGI app (request parsing, the store query,
template rendering; no network), and prints the median and 95th percentile.

`make bench` runs it after the bus benchmark.
`--db PATH` keeps the filled store there and reuses it on the next run (filling 1M
history rows takes a minute or two); without it a temporary file is used and removed.
`--store URL` runs on another store, PostgreSQL say
(`postgresql://postgres@127.0.0.1:5432/test?schema=console_bench`), kept likewise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bus.daemon import import_package
from bus.store import open_store
from bus.store.base import HistoryRecord, SagaRecord, SagaStatus, Store
from bus.store.browse import SagaFilter, encode_cursor, saga_page
from saga_dsl.engine.versions import load_machines
from sagabus.console import create_app

SAGAS = Path(__file__).resolve().parents[1] / "sagas"
SAGA = "order_processing"
BATCH = 2_000
T0 = datetime(2030, 1, 1, tzinfo=UTC)
TARGET_MS = 100.0
"""What the console promises on this store: each page's median under this."""

PATHS: tuple[tuple[int, SagaStatus, tuple[str, ...]], ...] = (
    # (share in 100, status, states gone through: the last is where it stands)
    (60, "completed", ("awaiting_payment", "reserving_inventory", "shipping", "completed")),
    (20, "failed", ("awaiting_payment", "reserving_inventory", "cancelled")),
    (8, "running", ("awaiting_payment",)),
    (5, "running", ("awaiting_payment", "reserving_inventory")),
    (4, "running", ("awaiting_payment", "reserving_inventory", "shipping")),
    (2, "running", ("awaiting_payment", "manual_review")),
    (1, "parked", ("awaiting_payment", "reserving_inventory")),
)
WEIGHTED = [(status, states) for share, status, states in PATHS for _ in range(share)]


def instance(n: int) -> tuple[SagaRecord, tuple[str, ...]]:
    status, states = WEIGHTED[n % len(WEIGHTED)]
    created = T0 + timedelta(seconds=n * 3)
    record = SagaRecord(
        id=f"order-{n:07d}",
        saga=SAGA,
        definition_version=1,
        correlation=f"o-{n:07d}",
        state=states[-1],
        status=status,
        data={"order_id": f"o-{n:07d}", "amount": 20.0 + n % 100, "customer_id": "c-1"},
        reason="ReserveInventory failed 3 times: timeout" if status == "parked" else None,
        created_at=created,
        updated_at=created + timedelta(seconds=5),
    )
    return record, states


def history(record: SagaRecord, states: tuple[str, ...], rows: int) -> list[HistoryRecord]:
    assert record.created_at is not None
    steps: list[HistoryRecord] = []
    previous: str | None = None
    for i in range(rows):
        target = states[min(i, len(states) - 1)]
        steps.append(
            HistoryRecord(
                instance_id=record.id,
                at=record.created_at + timedelta(milliseconds=i * 40),
                input="OrderCreated" if previous is None else "PaymentSucceeded",
                message_id=f"{record.id}-{i}",
                from_state=previous,
                to_state=target,
                effects=[{"effect": "send", "type": "ReserveInventory"}],
            )
        )
        previous = target
    return steps


async def fill(store: Store, instances: int, history_rows: int) -> None:
    per_instance, extra = divmod(history_rows, instances)
    for first in range(0, instances, BATCH):
        async with store.transaction() as tx:
            rows: list[HistoryRecord] = []
            for n in range(first, min(first + BATCH, instances)):
                record, states = instance(n)
                await tx.saga_insert(record)
                rows.extend(history(record, states, per_instance + (1 if n < extra else 0)))
            await tx.history_append(rows)


async def filled(store: Store) -> int:
    async with store.transaction() as tx:
        rows = await tx.read_rows("SELECT count(*) FROM saga_instance")
    return int(rows[0][0])


async def timed(client: httpx.AsyncClient, url: str, repeat: int) -> list[float]:
    times: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = await client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return times


async def pages(store: Store, instances: int) -> dict[str, str]:
    middle, _ = instance(instances // 2)
    assert middle.created_at is not None
    deep = encode_cursor(middle.created_at, middle.id)
    async with store.transaction() as tx:
        first = await saga_page(tx, SagaFilter(saga=SAGA, status="parked"), limit=50)
    parked_next = first.next_cursor or ""
    return {
        "overview /": "/",
        "instances, first page": "/instances",
        f"instances, page {instances // 100:,} (keyset)": f"/instances?after={deep}",
        "instances saga+status=parked": f"/instances?saga={SAGA}&status=parked",
        "instances parked, 2nd page": f"/instances?saga={SAGA}&status=parked&after={parked_next}",
        "instances state=shipping": f"/instances?saga={SAGA}&state=shipping",
        "instances by correlation": f"/instances?correlation={middle.correlation}",
        "one instance (history, graph)": f"/instances/{middle.id}",
    }


async def run(args: argparse.Namespace, url: str) -> None:
    import_package("handlers")
    machines = load_machines(SAGAS)
    async with open_store(url) as store:
        if await filled(store) < args.instances:
            start = time.perf_counter()
            await fill(store, args.instances, args.history_rows)
            print(f"filled in {time.perf_counter() - start:.0f}s")
        urls = await pages(store, args.instances)
        app = create_app(store, machines)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            print(
                f"{args.instances:,} instances, {args.history_rows:,} history rows, "
                f"{url.split(':', 1)[0]}; "
                f"{args.repeat} requests each"
            )
            print(f"{'page':40} {'median ms':>10} {'p95 ms':>8}")
            medians: dict[str, float] = {}
            for name, url in urls.items():
                await timed(client, url, 2)  # warm the page cache and templates
                times = sorted(await timed(client, url, args.repeat))
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                medians[name] = statistics.median(times)
                print(f"{name:40} {medians[name]:10.1f} {p95:8.1f}")
    slow = {name: ms for name, ms in medians.items() if ms >= TARGET_MS}
    verdict = f"over {TARGET_MS:.0f} ms: {', '.join(slow)}" if slow else "all under"
    print(f"target: every page's median under {TARGET_MS:.0f} ms - {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--db", type=Path, default=None, help="keep and reuse the store here")
    parser.add_argument("--store", default=None, help="a store URL instead (kept and reused)")
    args = parser.parse_args()
    if args.store is not None or args.db is not None:
        asyncio.run(run(args, args.store or f"sqlite:///{args.db}"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, f"sqlite:///{Path(tmp) / 'console_bench.db'}"))


if __name__ == "__main__":
    main()
