"""What metrics cost: the order saga's throughput with metrics off and on, interleaved.

    python -m bench.metrics_overhead [-n 300] [--repeat 5] [--pace 1] [--tracing]
                                     [--phases 20] [--phase-seconds 3]

Each run serves the example services and the order saga in-process (like `sagabus
demo`) on RabbitMQ and a fresh SQLite store, places N orders at once, spread over the
paths that wait for no timer and no person (completed, payment declined, out of stock
with a refund), and times them from the first send to the last saga's end. About ten
messages are handled per order.

- off: a plain `Bus` (its `MessageLog` only, at `warning`: what every bus runs);
- on: what `sagabus run --metrics-port` adds: the `Metrics` observer, the `Sampler`
  and the HTTP server, sampled and scraped every `--pace` seconds (default 1: the
  daemon samples every 10 s and Prometheus scrapes every 15 s, so this is the dear
  end);
- tracing (with `--tracing`, needs opentelemetry-sdk): the `Tracing` observer on an SDK
  tracer provider whose spans go nowhere, to price span creation alone.

Separate runs swing by 10-20% on a shared 2-core machine (SQLite's fsyncs, RabbitMQ,
whatever else runs), which hides a few percent. So a second measure keeps one bus
under steady load (`IN_FLIGHT` orders, a new one placed as each ends) for `--phases`
phases of `--phase-seconds`, with metrics (observer, sampler, scrapes) switched on in
every other phase, and compares each phase with the next: neighbours share the
machine's state.

Last, the hooks alone: the calls the bus makes per message (consumed, handling,
handled through its unit of work, published), timed in a loop with and without
`Metrics`, as a share of the CPU a message costs in the runs (about a tenth of an
order's).

The variants alternate (off, on, on, off, off, on, ...) so both meet the same
background load and neither always runs first.
Two measures: throughput (wall clock, which RabbitMQ and SQLite on a 2-core machine
make swing by 10-20% from run to run: the overhead is the median of the ratios of
runs taken side by side) and this process's CPU time per order (all its threads,
SQLite's included), which swings far less and is what the hooks actually cost. Each
run has its own namespace and store, both deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import handlers.messages as m
from bus.daemon import import_package, services_in
from bus.observability.logging import configure_logging
from bus.observability.message_log import MessageLog
from bus.observability.metrics import Metrics
from bus.observability.observe import (
    Facts,
    HandledOutcome,
    Observer,
    PublishOutcome,
    SagaOutcome,
    compose,
)
from bus.observability.probes import Probes, probe_app
from bus.observability.sampler import Sampler
from bus.observability.web_server import WebServer
from bus.settings import Settings
from bus.store import open_store
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import BackgroundTask, Bus
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from bus.wire.rabbitmq import RabbitMQTransport
from saga_dsl.engine.wiring import saga_runtime

AMQP_URL = os.environ.get("SAGABUS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SAGAS = Path(__file__).resolve().parent.parent / "sagas"
PATHS = (  # amount, sku: completed, completed, declined, out of stock (refunded)
    (120.0, "BOOK-1"), (95.0, "BOOK-2"), (60_000.0, "YACHT-1"), (80.0, "OOS-LAMP"),
)


class Finish(Observer):
    """Sets `done` once `count` sagas finished (both variants run it)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.done = asyncio.Event()

    def saga_finished(self, saga: str, outcome: SagaOutcome, seconds: float) -> None:
        self.count -= 1
        if self.count <= 0:
            self.done.set()


async def scrape_every(url: str, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())


async def run(
    variant: str, orders: int, store_dir: Path, pace: float = 1.0
) -> tuple[float, float]:
    """Orders per second and CPU milliseconds per order of one run of `variant`."""
    settings = Settings(
        amqp_url=AMQP_URL, store=f"sqlite:///{store_dir / f'{uuid.uuid4().hex}.db'}",
        namespace=f"bench-metrics-{uuid.uuid4().hex[:8]}",
    )
    runtime = saga_runtime(SAGAS)
    endpoints: list[Endpoint] = [*services_in(import_package("handlers")), *runtime.endpoints]
    finish = Finish(orders)
    observers: list[Observer] = [finish]
    background: list[BackgroundTask] = [runtime.scheduler]
    metrics: Metrics | None = None
    if variant == "on":
        metrics = Metrics()
        observers.append(metrics)
        background.append(Sampler(metrics, interval=pace))
    elif variant == "tracing":
        from opentelemetry.sdk.trace import TracerProvider

        from bus.observability.tracing import Tracing

        observers.append(Tracing(TracerProvider()))
    async with open_store(settings.store) as store:
        await runtime.pin(store)
        bus = Bus(settings, store, endpoints, background=background, observers=observers)
        server = WebServer(
            probe_app(Probes(metrics, bus=bus)), host="127.0.0.1", port=0, name="probes"
        )
        scraper: asyncio.Task[None] | None = None
        try:
            async with bus, BusClient(settings) as client:
                if metrics is not None:
                    await server.start()
                    scraper = asyncio.create_task(
                        scrape_every(f"http://127.0.0.1:{server.port}/metrics", pace)
                    )
                started, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(client.send(order(i)) for i in range(orders)))
                await asyncio.wait_for(finish.done.wait(), 300)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
        finally:
            if scraper is not None:
                scraper.cancel()
                await asyncio.gather(scraper, return_exceptions=True)
            await server.close()
            await delete_topology(settings, bus)
    return orders / elapsed, cpu * 1000 / orders


IN_FLIGHT = 100
"""Orders in flight during the phases."""


class SwitchedMetrics(Metrics):
    """`Metrics` whose hooks count only while `on` (the phases switch it)."""

    on = False

    def consumed(self, endpoint: str, envelope: Envelope | None) -> None:
        if self.on:
            super().consumed(endpoint, envelope)

    def handling(self, endpoint: str, envelope: Envelope) -> Any:
        return super().handling(endpoint, envelope) if self.on else nullcontext(envelope)

    def handled(self, endpoint: str, envelope: Envelope, outcome: HandledOutcome) -> None:
        if self.on:
            super().handled(endpoint, envelope, outcome)

    def published(self, envelope: Envelope, outcome: PublishOutcome) -> None:
        if self.on:
            super().published(envelope, outcome)

    def saga_started(self, saga: str) -> None:
        if self.on:
            super().saga_started(saga)

    def saga_finished(self, saga: str, outcome: SagaOutcome, seconds: float) -> None:
        if self.on:
            super().saga_finished(saga, outcome, seconds)

    def saga_compensated(self, saga: str, state: str) -> None:
        if self.on:
            super().saga_compensated(saga, state)


class Feeder(Observer):
    """Counts finished sagas and asks for a new order for each."""

    def __init__(self) -> None:
        self.finished = 0
        self.wanted: asyncio.Queue[None] = asyncio.Queue()

    def saga_finished(self, saga: str, outcome: SagaOutcome, seconds: float) -> None:
        self.finished += 1
        self.wanted.put_nowait(None)


async def phases(count: int, seconds: float, store_dir: Path) -> list[tuple[bool, float, float]]:
    """(metrics on, orders/s, CPU ms per order) of each phase after the first."""
    settings = Settings(
        amqp_url=AMQP_URL, store=f"sqlite:///{store_dir / 'phases.db'}",
        namespace=f"bench-metrics-{uuid.uuid4().hex[:8]}",
    )
    runtime = saga_runtime(SAGAS)
    endpoints: list[Endpoint] = [*services_in(import_package("handlers")), *runtime.endpoints]
    metrics, feeder = SwitchedMetrics(), Feeder()
    sampler = Sampler(metrics)
    results: list[tuple[bool, float, float]] = []
    async with open_store(settings.store) as store:
        await runtime.pin(store)
        bus = Bus(settings, store, endpoints, background=[runtime.scheduler],
                  observers=[feeder, metrics])
        try:
            async with bus, BusClient(settings) as client, WebServer(
                probe_app(Probes(metrics, bus=bus)), host="127.0.0.1", port=0, name="probes"
            ) as server:
                placed = 0

                async def feed() -> None:
                    nonlocal placed
                    while True:
                        await feeder.wanted.get()
                        await client.send(order(placed))
                        placed += 1

                async def observe_while_on() -> None:
                    url = f"http://127.0.0.1:{server.port}/metrics"
                    while True:
                        await asyncio.sleep(1.0)
                        if metrics.on:
                            await sampler.sample(bus)
                            await asyncio.to_thread(
                                lambda: urllib.request.urlopen(url, timeout=5).read()
                            )

                for _ in range(IN_FLIGHT):
                    feeder.wanted.put_nowait(None)
                tasks = [asyncio.create_task(feed()), asyncio.create_task(observe_while_on())]
                try:
                    for phase in range(count + 1):
                        metrics.on = phase % 2 == 1
                        done, cpu = feeder.finished, time.process_time()
                        started = time.perf_counter()
                        await asyncio.sleep(seconds)
                        done = feeder.finished - done
                        elapsed = time.perf_counter() - started
                        cpu = time.process_time() - cpu
                        if phase:  # the first one warms up
                            results.append((metrics.on, done / elapsed, cpu * 1000 / max(1, done)))
                            print(f"  phase {phase:2} {'on ' if metrics.on else 'off'} "
                                  f"{done / elapsed:7.1f} orders/s  "
                                  f"{cpu * 1000 / max(1, done):6.2f} ms CPU/order", flush=True)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await delete_topology(settings, bus)
    return results


def report_phases(results: list[tuple[bool, float, float]], seconds: float) -> str:
    slower, dearer = [], []
    for (on_a, rate_a, cpu_a), (_, rate_b, cpu_b) in itertools.pairwise(results):
        rate_on, rate_off = (rate_a, rate_b) if on_a else (rate_b, rate_a)
        cpu_on, cpu_off = (cpu_a, cpu_b) if on_a else (cpu_b, cpu_a)
        slower.append(1 - rate_on / rate_off)
        dearer.append(cpu_on / cpu_off - 1)
    on = [r for r in results if r[0]]
    off = [r for r in results if not r[0]]
    return (
        f"one bus, {IN_FLIGHT} orders in flight, {len(results)} phases of {seconds:g}s"
        f" (every other one with metrics):\n"
        f"  off {statistics.median(r[1] for r in off):7.1f} orders/s,"
        f" {statistics.median(r[2] for r in off):.2f} ms CPU/order\n"
        f"  on  {statistics.median(r[1] for r in on):7.1f} orders/s,"
        f" {statistics.median(r[2] for r in on):.2f} ms CPU/order;"
        f" overhead (median of neighbouring phases): throughput"
        f" {statistics.median(slower) * 100:+.1f}%, CPU per order"
        f" {statistics.median(dearer) * 100:+.1f}%"
    )


def order(i: int) -> m.CreateOrder:
    amount, sku = PATHS[i % len(PATHS)]
    item = m.OrderItem(sku=sku, quantity=1, unit_price=amount)
    return m.CreateOrder(order_id=f"order-{i:05d}", customer_id=f"customer-{i % 7}",
                         items=[item], amount=amount)


async def delete_topology(settings: Settings, bus: Bus) -> None:
    transport = RabbitMQTransport(settings.amqp_url)
    await transport.connect()
    try:
        await transport.delete(bus.topology())
    finally:
        await transport.close()


Runs = dict[str, list[tuple[float, float]]]
"""Variant -> (orders/s, CPU ms per order) of each run, in order."""


async def compare(orders: int, repeat: int, variants: Sequence[str], pace: float) -> Runs:
    runs: Runs = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        await run("off", max(20, orders // 10), Path(tmp))  # warm-up: imports, first queues
        for i in range(repeat):
            # ABBA: neither variant always runs first, after the other one's clean-up
            for variant in variants if i % 2 == 0 else reversed(variants):
                rate, cpu = await run(variant, orders, Path(tmp), pace)
                runs[variant].append((rate, cpu))
                print(f"  run {i + 1} {variant:8} {rate:7.1f} orders/s  {cpu:6.2f} ms CPU/order",
                      flush=True)
    return runs


MESSAGES_PER_ORDER = 10
"""Messages handled per order on these paths, about (CreateOrder, OrderCreated twice,
ProcessPayment, PaymentSucceeded twice, ReserveInventory, ...)."""


def hook_cost(observers: Sequence[Observer], calls: int = 50_000) -> float:
    """Microseconds of the observer calls the bus makes for one message."""
    observer = compose([MessageLog(), *observers])
    envelope = Envelope.of(order(0), correlation_id="order-00000")
    started = time.perf_counter()
    for _ in range(calls):
        observer.consumed("orders", envelope)
        facts = Facts(observer)
        with facts.open(), observer.handling("orders", envelope):
            facts.add(lambda o: o.handled("orders", envelope, "success"))
        facts.commit()
        observer.published(envelope, "confirmed")
    return (time.perf_counter() - started) / calls * 1e6


def report(runs: Runs, orders: int) -> str:
    off = runs["off"]
    lines = [f"order saga, {orders} orders per run, {len(off)} runs per variant:"]
    for variant, values in runs.items():
        rates = [rate for rate, _ in values]
        cpus = [cpu for _, cpu in values]
        line = (f"  {variant:8} {statistics.median(rates):7.1f} orders/s "
                f"(min {min(rates):.1f}, max {max(rates):.1f}), "
                f"{statistics.median(cpus):.2f} ms CPU/order")
        if variant != "off":
            slower = statistics.median(1 - v[0] / o[0] for v, o in zip(values, off, strict=True))
            dearer = statistics.median(cpus) / statistics.median(c for _, c in off) - 1
            line += (f"; overhead: throughput {slower * 100:+.1f}% (median of paired runs),"
                     f" CPU per order {dearer * 100:+.1f}%")
        lines.append(line)
    per_message = statistics.median(c for _, c in off) * 1000 / MESSAGES_PER_ORDER
    bare, metered = hook_cost([]), hook_cost([Metrics()])
    lines.append(
        f"  hooks per message: {bare:.1f} us without metrics, {metered:.1f} us with them:"
        f" +{(metered - bare) / per_message * 100:.2f}% of the {per_message:.0f} us of CPU"
        " a message costs"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Runs:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--orders", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pace", type=float, default=1.0,
                        help="seconds between samples and between scrapes when on")
    parser.add_argument("--phases", type=int, default=20,
                        help="phases of the steady-load measure (0: skip it)")
    parser.add_argument("--phase-seconds", type=float, default=3.0)
    parser.add_argument("--tracing", action="store_true",
                        help="also price tracing (needs opentelemetry-sdk)")
    args = parser.parse_args(argv)
    configure_logging("console", "warning")
    variants = ["off", "on", *(["tracing"] if args.tracing else [])]
    runs = asyncio.run(compare(args.orders, args.repeat, variants, args.pace))
    lines = [report(runs, args.orders)]
    if args.phases:
        with tempfile.TemporaryDirectory() as tmp:
            results = asyncio.run(phases(args.phases, args.phase_seconds, Path(tmp)))
        lines.append(report_phases(results, args.phase_seconds))
    print("\n".join(lines))
    return runs


if __name__ == "__main__":
    main()
