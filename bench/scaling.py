"""(5) Scaling: the order saga at 10 .. 100,000 sagas in flight, and a daemon whose store
holds 1,000,000 instances waiting on a long timer.

    python -m bench.scaling [--levels 10,100,1000] [--huge] [--parked 1000000]
                            [--history-rows 1000000] [--template DIR]
                            [--store sqlite|postgres]

Levels: `bench.order_saga` with L orders in flight (closed loop) and max(2L, 300)
orders in all; throughput and OrderCreated -> final latency at each. `--huge` adds
L = 100,000 with 120,000 orders (the last 20,000 enter as the first ones end; hours
on 2 cores, and the driver sends one order at a time: `bench.window` measures that
level in a window instead).

Waiting instances: `--parked` order-saga instances in `manual_review` (default
1,000,000), each with its review timeout armed a day ahead, and `--history-rows`
history rows spread over them (default 1,000,000, at least two each: the real steps
that led there): the store a daemon finds after a busy month, written by
`bench.fill` (the first instance through the store API, the others copies of its
rows; two to three minutes for a million on 2 cores; `--template DIR` keeps the store
for later runs). Then, on that store:

- `sagabus status ID` (by instance id and by order id): the time of the command's own
  work in this process (open the store, read instance, timers, history, streams),
  median of 20, and the wall time of the CLI as a process (Python start-up included),
  each run paired with one of `python -c pass` (the interpreter's own start-up);
- a daemon (`bus.daemon.serve` with the services and sagas, as `sagabus run` would run
  them) in a process of its own: its RSS once started, and its RSS and peak RSS after
  it ran 300 more orders to the end with those instances in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.fill import asked_about, correlation_of, fill, per_instance
from bench.order_saga import (
    SAGAS,
    OrderRun,
    collect,
    drive,
    fresh_store,
    remove_sqlite,
    run,
)
from bench.pingpong_aiopika import AMQP_URL
from bus.daemon import import_package, serve, services_in
from bus.observability.logging import configure_logging
from bus.settings import Settings
from bus.store import namespace_url, open_store
from bus.store.sqlite import database_path
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import Bus, bus_topology
from bus.unitofwork.scheduled import ScheduledSends
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names
from saga_dsl.engine.wiring import SagaRuntime, saga_runtime
from sagabus.cli.instances import _status

LEVELS = (10, 100, 1_000)
HUGE = 100_000
HUGE_ORDERS = 120_000
"""Orders of the `--huge` level: 2L would take hours; past the first L, 20,000 more keep
L in flight until the drain."""
PARKED = 1_000_000
"""Waiting instances in the store of the daemon and `status` runs (issue 16's figure)."""
HISTORY_ROWS = 1_000_000
MIN_ORDERS = 300
DAEMON_ORDERS = 300
READY = "bench-daemon-ready"


@dataclass
class ParkedResult:
    """The store of waiting instances and what a daemon and `status` made of it."""

    instances: int
    history_rows: int
    fill_seconds: float
    """Writing the store (or, with a template, copying it)."""
    status_by_id: list[float] = field(default_factory=list)
    status_by_order: list[float] = field(default_factory=list)
    status_cli: list[float] = field(default_factory=list)
    python_start: list[float] = field(default_factory=list)
    """`python -c pass`, each run right after one of `status_cli`."""
    imports: list[tuple[str, float]] = field(default_factory=list)
    """`sagabus status` under `python -X importtime`: ms per top-level import, largest
    first."""
    rss_started_mb: float = 0.0
    rss_after_mb: float = 0.0
    rss_peak_mb: float = 0.0
    daemon_run: OrderRun | None = None


def orders_at(level: int) -> int:
    """Orders run with `level` in flight."""
    return HUGE_ORDERS if level == HUGE else max(2 * level, MIN_ORDERS)


async def levels(
    levels: tuple[int, ...], store_kind: str, tmp: str, *, amqp_url: str, prefetch: int
) -> list[OrderRun]:
    results = []
    for level in levels:
        async with fresh_store(store_kind, tmp) as url:
            results.append(
                await run(
                    store=url, namespace=f"bench-sc-{uuid.uuid4().hex[:8]}",
                    in_flight=level, total=orders_at(level),
                    label=f"{level:,} in flight", amqp_url=amqp_url, prefetch=prefetch,
                    limit=max(600.0, level * 0.2),
                )
            )
    return results


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of process `pid`, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


async def timed_status(url: str, key: str, times: int) -> list[float]:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        await _status(url, key)
        took.append(time.perf_counter() - started)
    return took


def cli_status(url: str, key: str, times: int) -> tuple[list[float], list[float]]:
    """Wall seconds of `sagabus status KEY` as a process, and of `python -c pass` run
    right after each (pairs: both meet the same load)."""
    sagabus = Path(sys.executable).with_name("sagabus")
    commands = ([str(sagabus), "status", key, "--store", url, "--json"],
                [sys.executable, "-c", "pass"])
    took: tuple[list[float], list[float]] = ([], [])
    for _ in range(times):
        for command, into in zip(commands, took, strict=True):
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            into.append(time.perf_counter() - started)
    return took


def import_profile(url: str, key: str) -> list[tuple[str, float]]:
    """ms of each top-level import of `sagabus status KEY` (`-X importtime`, cumulative:
    a module and everything it imported first), largest first."""
    sagabus = Path(sys.executable).with_name("sagabus")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(sagabus), "status", key, "--store", url,
         "--json"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        _, _, columns = line.partition("import time:")
        parts = columns.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header
        name = parts[2].rstrip()
        if name.startswith(" ") and not name.startswith("  "):  # top level: one space
            top = name.strip().split(".")[0]
            totals[top] = totals.get(top, 0.0) + int(parts[1]) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])


async def filled(url: str, instances: int, history_rows: int, template: Path | None) -> str:
    """Fills the SQLite store at `url` (see `fill`); with `template`, a directory, the
    store is filled there once (a file named by the two counts) and copied to `url`
    on later runs: a million instances take minutes to write."""
    if template is None:
        return await fill(url, instances, history_rows)
    kept, partial = template_files(template, instances, history_rows)
    if partial is not None:
        await fill(f"sqlite:///{partial}", instances, history_rows)
        partial.rename(kept)
    shutil.copyfile(kept, database_path(url))
    return asked_about(instances)


def template_files(template: Path, instances: int, history_rows: int) -> tuple[Path, Path | None]:
    """The kept store of these counts in `template`, and the file to fill first when it
    is not there yet (renamed to the kept one once full, so an interrupted fill is
    never taken for a whole one)."""
    kept = template / f"parked-{instances}-{history_rows}.db"
    if kept.exists():
        return kept, None
    template.mkdir(parents=True, exist_ok=True)
    partial = kept.with_suffix(".partial.db")
    remove_sqlite(partial)
    return kept, partial


async def parked(
    store_kind: str, tmp: str, *, instances: int, history_rows: int, amqp_url: str,
    prefetch: int, template: Path | None = None,
) -> ParkedResult:
    if template is not None and store_kind != "sqlite":
        raise ValueError("a template store is a SQLite file")
    async with fresh_store(store_kind, tmp) as base_url:
        namespace = f"bench-dm-{uuid.uuid4().hex[:8]}"
        url = namespace_url(base_url, namespace)  # where the daemon of `namespace` looks
        started = time.perf_counter()
        key = await filled(url, instances, history_rows, template)
        result = ParkedResult(instances, per_instance(instances, history_rows) * instances,
                              time.perf_counter() - started)
        await timed_status(url, key, 2)  # warm the page cache like any second call
        result.status_by_id = await timed_status(url, key, 20)
        result.status_by_order = await timed_status(url, correlation_of(instances // 2), 20)
        cli_status(url, key, 1)  # the interpreter's and the modules' files into the page cache
        result.status_cli, result.python_start = cli_status(url, key, 5)
        result.imports = import_profile(url, key)

        settings = Settings(amqp_url=amqp_url, store=base_url, prefetch=prefetch,
                            namespace=namespace)
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.scaling", "--serve", base_url, "--namespace", namespace,
            "--amqp-url", amqp_url, "--prefetch", str(prefetch),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert daemon.stdout is not None
            line = await asyncio.wait_for(daemon.stdout.readline(), 120)
            if line.decode().strip() != READY:
                raise RuntimeError(f"the daemon did not start: {line!r}")
            await asyncio.sleep(2.0)  # a few scheduler polls and relay sweeps
            result.rss_started_mb, _ = rss_mb(daemon.pid)
            seconds = await drive(settings, in_flight=100, total=DAEMON_ORDERS, limit=300)
            result.rss_after_mb, result.rss_peak_mb = rss_mb(daemon.pid)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(daemon.wait(), 60)
            except TimeoutError:
                daemon.kill()
                await daemon.wait()
            await delete_daemon_topology(settings)
        async with open_store(url) as store:
            result.daemon_run = await collect(store, "daemon", seconds, range(DAEMON_ORDERS))
    return result


def daemon_endpoints() -> tuple[list[Endpoint], SagaRuntime]:
    """What `sagabus run` serves: the services of `handlers` and the sagas of `sagas/`."""
    services = services_in(import_package("handlers"))  # their contracts check the sagas
    runtime = saga_runtime(SAGAS)
    return [*services, *runtime.endpoints], runtime


async def delete_daemon_topology(settings: Settings) -> None:
    endpoints, _ = daemon_endpoints()
    served = [*endpoints, ScheduledSends()]  # every daemon adds the scheduled sends
    topology = bus_topology(Names(settings.namespace), served, settings.queue_type)
    transport = RabbitMQTransport(settings.amqp_url)
    await transport.connect()
    try:
        await transport.delete(topology)
    finally:
        await transport.close()


def serve_daemon(args: argparse.Namespace) -> None:
    """The daemon process: the services and sagas on one bus until SIGTERM."""
    configure_logging("console", "warning")
    settings = Settings(amqp_url=args.amqp_url, store=args.serve, prefetch=args.prefetch,
                        namespace=args.namespace)
    endpoints, runtime = daemon_endpoints()

    def ready(_: Bus) -> None:
        print(READY, flush=True)

    asyncio.run(
        serve(settings, endpoints, background=[runtime.scheduler], prepare=[runtime.pin],
              on_started=ready)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default=",".join(str(n) for n in LEVELS),
                        help="sagas in flight, comma-separated")
    parser.add_argument("--huge", action="store_true", help=f"also {HUGE:,} in flight")
    parser.add_argument("--parked", type=int, default=PARKED, help="waiting instances")
    parser.add_argument("--history-rows", type=int, default=HISTORY_ROWS)
    parser.add_argument("--template", type=Path, metavar="DIR",
                        help="keep the filled store in DIR and copy it on later runs")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--amqp-url", default=AMQP_URL)
    parser.add_argument("--serve", metavar="STORE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve_daemon(args)
        return
    configure_logging("console", "warning")
    chosen = tuple(int(n) for n in args.levels.split(",") if n) + ((HUGE,) if args.huge else ())

    async def both() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for r in await levels(chosen, args.store, tmp, amqp_url=args.amqp_url,
                                  prefetch=args.prefetch):
                print(f"{r.label}: {r.sagas_per_second:.1f} sagas/s, "
                      f"{r.steps_per_second:.0f} steps/s, "
                      f"p50 {statistics.median(r.latencies) * 1000:.0f} ms")
            p = await parked(args.store, tmp, instances=args.parked,
                             history_rows=args.history_rows, amqp_url=args.amqp_url,
                             prefetch=args.prefetch, template=args.template)
            print(f"{p.instances:,} waiting, {p.history_rows:,} history rows "
                  f"(written in {p.fill_seconds:.1f}s): status by id "
                  f"{statistics.median(p.status_by_id) * 1000:.1f} ms, by order "
                  f"{statistics.median(p.status_by_order) * 1000:.1f} ms, CLI "
                  f"{statistics.median(p.status_cli) * 1000:.0f} ms (python -c pass "
                  f"{statistics.median(p.python_start) * 1000:.0f} ms); daemon RSS "
                  f"{p.rss_started_mb:.0f} MB started, {p.rss_after_mb:.0f} MB after "
                  f"{DAEMON_ORDERS} orders (peak {p.rss_peak_mb:.0f} MB)")

    asyncio.run(both())


if __name__ == "__main__":
    main()
