"""(4) The order saga through the saga engine and the example services.

    python -m bench.order_saga [--sagas 600] [--in-flight 100] [--prefetch 200]
                               [--store sqlite|postgres|both]

Wired as `sagabus demo` wires it (the services of `handlers`, the sagas of `./sagas`,
the timer scheduler) on one `Bus`, in a namespace of its own. A client keeps
`--in-flight` orders going at once (a closed loop: each order that ends lets the next
one in) until `--sagas` orders have ended. Only the paths without timer waits are
used, so that the figures measure work, not `after: 10s`: completed (4 in 6 orders),
payment declined (1 in 6) and out of stock with a refund (1 in 6).

Figures: sagas/s and steps/s over the whole run, where a step is one command and its
reply (CreateOrder -> OrderCreated, ProcessPayment -> PaymentSucceeded, ... and the
final CompleteOrder or CancelOrder with its event; counted from each instance's
history), and the p50/p95/p99 time from OrderCreated (the instance's creation) to its
final state, read from the store. An order that ends off its path fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aio_pika
import asyncpg  # type: ignore[import-untyped, unused-ignore]
import orjson
from aio_pika.abc import AbstractIncomingMessage

from bench.pingpong_aiopika import AMQP_URL
from bench.pingpong_sagabus import delete_topology
from bus import Bus, BusClient, Settings
from bus.daemon import import_package, services_in
from bus.observability.logging import configure_logging
from bus.store import Store, open_store
from saga_dsl.engine.wiring import saga_runtime

PG_URL = os.environ.get("SAGABUS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SAGAS = Path(__file__).resolve().parents[1] / "sagas"
SAGA = "order_processing"
FINAL_EVENTS = ("OrderCompleted", "OrderCancelled")
T = TypeVar("T")


@dataclass(frozen=True)
class OrderPath:
    """A path through the order saga without timer waits: how to provoke it, where it
    must end."""

    name: str
    amount: float
    sku: str
    ends_in: str


COMPLETED = OrderPath("completed", 120.0, "BOOK-{n}", "completed")
DECLINED = OrderPath("payment declined", 60_000.0, "YACHT-{n}", "cancelled")
OUT_OF_STOCK = OrderPath("out of stock, refunded", 80.0, "OOS-LAMP-{n}", "cancelled")
PLAN: tuple[OrderPath, ...] = (COMPLETED, COMPLETED, DECLINED, COMPLETED, COMPLETED, OUT_OF_STOCK)
"""The paths, in the order orders take them (round robin)."""

SKUS = 50
"""Distinct SKUs per path, so that stock rows are shared by some orders, not all."""


@dataclass
class OrderRun:
    """What one run of the order saga gave."""

    label: str
    sagas: int
    steps: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    """OrderCreated -> final state, per saga, from the store (seconds)."""
    ends: Counter[str] = field(default_factory=Counter)
    wrong: int = 0

    @property
    def sagas_per_second(self) -> float:
        return self.sagas / self.seconds if self.seconds > 0 else 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def order_id(n: int) -> str:
    return f"order-{n:06d}"


def path_of(n: int) -> OrderPath:
    return PLAN[n % len(PLAN)]


class FinalTap:
    """Watches `{namespace}.events` for OrderCompleted / OrderCancelled through a queue
    of its own (not durable, auto-deleted: an observer, not part of the system under
    test) and tells the driver which orders have ended. Should the broker drop its
    connection (another process restarting RabbitMQ), the ends it would miss make the
    run meaningless: `guard` then raises instead of waiting for them."""

    def __init__(self, amqp_url: str, namespace: str) -> None:
        self._url = amqp_url
        self._namespace = namespace
        self.ended: dict[str, float] = {}
        self._on_end: asyncio.Queue[str] = asyncio.Queue()
        self._lost = asyncio.Event()
        self._closing = False
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def __aenter__(self) -> FinalTap:
        self._connection = await aio_pika.connect(self._url)
        self._connection.close_callbacks.add(self._closed)
        channel = await self._connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for event in FINAL_EVENTS:
            await queue.bind(f"{self._namespace}.events", event)
        await queue.consume(self._seen, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        if self._connection is not None:
            await self._connection.close()

    def _closed(self, *_: object) -> None:
        if not self._closing:
            self._lost.set()

    async def _seen(self, message: AbstractIncomingMessage) -> None:
        order = str(orjson.loads(message.body)["order_id"])
        if order not in self.ended:
            self.ended[order] = time.perf_counter()
            self._on_end.put_nowait(order)

    async def next_end(self) -> str:
        return await self._on_end.get()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Awaits `awaitable`, unless the tap loses the broker first."""
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.create_task(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            raise ConnectionError(
                "the connection to RabbitMQ was closed during the run (was the broker "
                "restarted?): its figures would be wrong, run the benchmark again"
            )
        return task.result()


async def place_order(client: BusClient, n: int) -> None:
    """Sends order `n`'s CreateOrder, on the path `path_of(n)`."""
    import handlers.messages as m

    path = path_of(n)
    item = m.OrderItem(sku=path.sku.format(n=n % SKUS), quantity=1, unit_price=path.amount)
    await client.send(
        m.CreateOrder(
            order_id=order_id(n), customer_id=f"customer-{n % 97}", items=[item],
            amount=path.amount,
        )
    )


async def drive(settings: Settings, *, in_flight: int, total: int, limit: float) -> float:
    """Places orders 0 .. total - 1, at most `in_flight` at a time, on the bus of
    `settings` (running in this process or another); returns the seconds from the
    first CreateOrder sent to the last order's final event."""
    slots = asyncio.Semaphore(in_flight)
    async with FinalTap(settings.amqp_url, settings.namespace) as tap, \
            BusClient(settings) as client:

        async def release() -> None:
            for _ in range(total):
                await tap.next_end()
                slots.release()

        started = time.perf_counter()
        releasing = asyncio.create_task(release())
        try:
            async with asyncio.timeout(limit):
                for n in range(total):
                    await tap.guard(slots.acquire())
                    await place_order(client, n)
                await tap.guard(asyncio.shield(releasing))
        except TimeoutError:
            raise TimeoutError(
                f"only {len(tap.ended)} of {total} orders ended within {limit:g}s"
            ) from None
        finally:
            releasing.cancel()
            await asyncio.gather(releasing, return_exceptions=True)
        return max(tap.ended.values()) - started


async def collect(
    store: Store, label: str, seconds: float, numbers: Sequence[int]
) -> OrderRun:
    """Reads the ended instances back: end states, steps, OrderCreated -> final."""
    run = OrderRun(label=label, sagas=len(numbers), steps=0, seconds=seconds)
    async with store.transaction() as tx:
        for n in numbers:
            record = await tx.saga_find(SAGA, order_id(n))
            if record is None:
                run.wrong += 1
                continue
            run.ends[record.state] += 1
            if record.state != path_of(n).ends_in:
                run.wrong += 1
            # the history has one row per reply the saga took; + the final command's
            run.steps += len(await tx.history(record.id)) + 1
            if record.created_at is not None and record.updated_at is not None:
                run.latencies.append((record.updated_at - record.created_at).total_seconds())
    return run


def remove_sqlite(path: Path) -> None:
    """The file and those of the bus namespaces opened on it (`name.namespace.db`)."""
    for file in [path, *path.parent.glob(f"{path.stem}.*{path.suffix}")]:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{file}{suffix}").unlink(missing_ok=True)


@asynccontextmanager
async def fresh_store(kind: str, directory: str) -> AsyncIterator[str]:
    """The URL of an empty store of `kind` (sqlite: a file in `directory`; postgres: a
    schema of its own, dropped afterwards)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        path = Path(directory) / f"{name}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            remove_sqlite(path)
        return
    try:
        yield f"{PG_URL}?schema={name}"
    finally:
        conn = await asyncpg.connect(PG_URL)
        try:  # the schema, and those of the bus namespaces opened on it
            for (schema,) in await conn.fetch(
                "SELECT nspname FROM pg_namespace "
                "WHERE nspname = $1 OR starts_with(nspname, $1 || '_')",
                name,
            ):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


async def run(
    *,
    store: str,
    namespace: str,
    in_flight: int,
    total: int,
    label: str,
    amqp_url: str = AMQP_URL,
    prefetch: int = 200,
    batch_max: int = 100,
    limit: float = 600.0,
    drained: Callable[[], None] | None = None,
) -> OrderRun:
    """`total` orders, `in_flight` at a time, through a bus in this process on the store
    at URL `store`; the namespace's exchanges and queues are deleted afterwards.
    `drained` is called once every order has ended, before the results are read."""
    settings = Settings(
        amqp_url=amqp_url, store=store, prefetch=prefetch, batch_max=batch_max,
        namespace=namespace,
    )
    services = services_in(import_package("handlers"))
    runtime = saga_runtime(SAGAS)
    async with open_store(settings.store) as opened:
        await runtime.pin(opened)
        bus = Bus(
            settings, opened, [*services, *runtime.endpoints], background=[runtime.scheduler]
        )
        try:
            async with bus:
                seconds = await drive(
                    settings, in_flight=in_flight, total=total, limit=limit
                )
                if drained is not None:
                    drained()
        finally:
            await delete_topology(settings, bus)
        result = await collect(opened, label, seconds, range(total))
    if result.wrong:
        raise RuntimeError(
            f"{label}: {result.wrong} of {total} orders did not end as their path says "
            f"({dict(result.ends)})"
        )
    return result


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, inclusive method; 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sagas", type=int, default=600, help="orders in the run (N)")
    parser.add_argument("--in-flight", type=int, default=100, help="orders going at once")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--batch-max", type=int, default=100)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args()
    configure_logging("console", "warning")
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]

    async def each() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for kind in kinds:
                async with fresh_store(kind, tmp) as url:
                    result = await run(
                        store=url, namespace=f"bench-os-{uuid.uuid4().hex[:8]}",
                        in_flight=args.in_flight, total=args.sagas, label=kind,
                        amqp_url=args.amqp_url, prefetch=args.prefetch,
                        batch_max=args.batch_max,
                    )
                print(
                    f"order saga on {kind}: {result.sagas} sagas in {result.seconds:.2f}s = "
                    f"{result.sagas_per_second:.1f} sagas/s, {result.steps_per_second:.0f} "
                    f"steps/s; p50 {quantile(result.latencies, 0.5) * 1000:.0f} ms, "
                    f"p95 {quantile(result.latencies, 0.95) * 1000:.0f} ms, "
                    f"p99 {quantile(result.latencies, 0.99) * 1000:.0f} ms; {dict(result.ends)}"
                )

    asyncio.run(each())


if __name__ == "__main__":
    main()
