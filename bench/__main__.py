"""`make bench`: every part of the benchmark in one process, one table, `bench/RESULTS.md`.

    python -m bench [-k 100] [-s 20] [-n 300] [--prefetch 200] [--repeat 3]
                    [--levels 10,100,1000] [--huge] [--parked 1000000]
                    [--history-rows 1000000] [--template DIR] [--no-postgres]
                    [--no-orders] [--no-waits] [--wait-sagas 300]
                    [--no-scaleout] [--scaleout-sagas 300]
                    [--scaleout-repeat 2] [--loop auto|uvloop|asyncio]
                    [--out bench/RESULTS.md]

Parts, in this order (see each module's docstring):

1. `bench.pingpong_aiopika`: raw aio-pika, K conversations x S steps (and, as (1b),
   the same with aio-pika's queue iterator);
2. `bench.pingpong_faststream`: the same in FastStream;
3. `bench.pingpong_sagabus`: the same with sagabus Services, inbox/outbox on SQLite;
4. `bench.order_saga`: N order sagas, K in flight, on SQLite and on PostgreSQL;
   then `bench.stages`: statements per saga and CPU per stage (load-independent),
   and `bench.waits`: where the wall time goes, by endpoint and phase of the pipeline;
5. `bench.scaling`: the order saga at 10, 100, 1,000 (and with `--huge` 100,000) in
   flight; `bench.window`: steps/s at 100 and at 100,000 in flight counted in a
   `--window` (about 6 minutes); 1,000,000 waiting instances with 1,000,000 history
   rows (`bench.fill`): daemon RSS and `sagabus status` time, in the process and as
   a process;
6. `bench.scaleout`: one daemon process against two on one PostgreSQL, rounds
   alternating (run before (5), right after (4)).

While each run of (1)-(4) and each round of (6) goes, `bench.cpu` reads from /proc
where the cores go (this process, the broker, PostgreSQL, the rest of the machine);
`bench.explain` turns those figures, the stage profile and the latencies into
RESULTS.md's notes on every goal not met.

Parts 1-4 run `--repeat` times, interleaved (1, 1b, 2, 3, 4 SQLite, 4 PostgreSQL, then
again), so that every implementation meets the same background load; the ratios are
taken per repeat. Each run has its own namespace (exchanges and queues) and its own
store, both deleted afterwards (SIGTERM and Ctrl-C too). Parts 1-4 take about 2.5
minutes on 2 cores, (6) about one, (5) about ten, of which writing the million
waiting instances is two or three (`--template DIR` keeps that store for the next
run; `--parked 100000 --history-rows 300000` is the quick version); `--huge` adds an
hour or more.

Every part runs on one event loop, the baselines included, so that a ratio compares
the libraries and not the loops: uvloop when it is installed (the `fast` extra, which
`make bench` installs), else asyncio's; RESULTS.md says which under Settings.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

from bench import (
    order_saga,
    pingpong_aiopika,
    pingpong_sagabus,
    scaleout,
    scaling,
    stages,
    waits,
    window,
)
from bench.conversation import Run
from bench.cpu import measuring
from bench.order_saga import fresh_store
from bench.report import machine, postgres_reachable, versions, write
from bench.results import (
    FASTSTREAM,
    ORDERS_POSTGRES,
    ORDERS_SQLITE,
    RAW,
    RAW_ITERATOR,
    SAGABUS,
    Results,
)
from bus import eventloop
from bus.observability.logging import configure_logging

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", "--conversations", type=int, default=100,
                        help="concurrent conversations in (1)-(3), orders in flight in (4)")
    parser.add_argument("-s", "--steps", type=int, default=20,
                        help="steps per conversation in (1)-(3)")
    parser.add_argument("-n", "--sagas", type=int, default=300, help="order sagas per run of (4)")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--batch-max", type=int, default=100, help="sagabus group commit size")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each of (1)-(4)")
    parser.add_argument("--levels", default="10,100,1000", help="sagas in flight in (5)")
    parser.add_argument("--huge", action="store_true",
                        help=f"also {scaling.HUGE:,} sagas in flight")
    parser.add_argument("--parked", type=int, default=scaling.PARKED,
                        help="waiting instances in (5)")
    parser.add_argument("--history-rows", type=int, default=scaling.HISTORY_ROWS,
                        help="history rows in (5)")
    parser.add_argument("--template", type=Path, metavar="DIR",
                        help="keep the store of waiting instances in DIR for later runs")
    parser.add_argument("--no-iterator", action="store_true", help="skip (1b)")
    parser.add_argument("--no-postgres", action="store_true", help="skip (4) on PostgreSQL")
    parser.add_argument("--no-orders", action="store_true", help="skip (4): only (1)-(3)")
    parser.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default=None,
                        help="event loop of every part (default: SAGABUS_EVENT_LOOP, else"
                             " auto: uvloop when installed)")
    parser.add_argument("--no-scaling", action="store_true", help="skip (5)")
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds of steps counted at 100 and at 100,000 in flight "
                             "(bench.window; 0: skip)")
    parser.add_argument("--no-scaleout", action="store_true",
                        help="skip (6): one daemon against two on one PostgreSQL")
    parser.add_argument("--scaleout-sagas", type=int, default=300,
                        help="order sagas per round of (6)")
    parser.add_argument("--scaleout-repeat", type=int, default=2,
                        help="rounds of each daemon count in (6)")
    parser.add_argument("--no-stages", action="store_true",
                        help="skip the statements per saga and CPU per stage")
    parser.add_argument("--stage-sagas", type=int, default=120,
                        help="order sagas per run of the stage breakdown")
    parser.add_argument("--no-waits", action="store_true",
                        help="skip the wall time per endpoint and phase (bench.waits)")
    parser.add_argument("--wait-sagas", type=int, default=300,
                        help="order sagas per run of the wall-time profile")
    parser.add_argument("--amqp-url", default=os.environ.get("SAGABUS_AMQP_URL",
                                                             pingpong_aiopika.AMQP_URL))
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


async def bench(args: argparse.Namespace, results: Results, postgres: bool, tmp: str) -> None:
    # SIGTERM cancels like Ctrl-C, so that every run deletes its queues and stores
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    k, s, prefetch, url = args.conversations, args.steps, args.prefetch, args.amqp_url
    faststream = _faststream(results)
    results.versions = await versions(url, postgres)

    def namespace(part: str) -> str:
        return f"bench-{part}-{uuid.uuid4().hex[:8]}"

    for repeat in range(args.repeat):
        print(f"repeat {repeat + 1} of {args.repeat}", flush=True)
        timed: list[tuple[str, Callable[[], Awaitable[Run]]]] = [
            (RAW, lambda: pingpong_aiopika.run(
                k=k, s=s, prefetch=prefetch, amqp_url=url, namespace=namespace("raw"))),
        ]
        if faststream is not None:
            timed.append((FASTSTREAM, lambda: faststream.run(
                k=k, s=s, prefetch=prefetch, amqp_url=url, namespace=namespace("fs"))))
        if not args.no_iterator:
            timed.insert(1, (RAW_ITERATOR, lambda: pingpong_aiopika.run(
                k=k, s=s, prefetch=prefetch, amqp_url=url, namespace=namespace("rawi"),
                iterator=True)))
        for label, start in timed:
            with measuring() as used:
                results.pingpong.setdefault(label, []).append(await start())
            results.cpu.setdefault(label, []).append(used.share)
            _progress(label, results.pingpong[label][-1].rate, "steps/s")
        async with fresh_store("sqlite", tmp) as store:
            with measuring() as used:
                results.pingpong.setdefault(SAGABUS, []).append(
                    await pingpong_sagabus.run(
                        k=k, s=s, prefetch=prefetch, batch_max=args.batch_max, amqp_url=url,
                        namespace=namespace("sb"), store=store,
                    )
                )
            results.cpu.setdefault(SAGABUS, []).append(used.share)
        _progress(SAGABUS, results.pingpong[SAGABUS][-1].rate, "steps/s")
        for label, kind in ((ORDERS_SQLITE, "sqlite"), (ORDERS_POSTGRES, "postgres")):
            if args.no_orders or (kind == "postgres" and not postgres):
                continue
            async with fresh_store(kind, tmp) as store:
                with measuring() as used:
                    run = await order_saga.run(
                        store=store, namespace=namespace("os"), in_flight=k, total=args.sagas,
                        label=label, amqp_url=url, prefetch=prefetch, batch_max=args.batch_max,
                    )
            results.orders.setdefault(label, []).append(run)
            results.cpu.setdefault(label, []).append(used.share)
            _progress(label, run.steps_per_second, "steps/s")

    if not args.no_stages:
        print("statements per saga and CPU per stage", flush=True)
        kinds = ["sqlite", "postgres"] if postgres else ["sqlite"]
        results.stages = await stages.run_all(
            kinds, tmp, sagas=args.stage_sagas, in_flight=k,
            each=lambda f: _progress(f"statements per saga, {f.kind}",
                                     f.statements_per_saga, "statements"),
        )
    if not args.no_waits:
        print("wall time per endpoint and phase", flush=True)
        for kind in ["sqlite", "postgres"] if postgres else ["sqlite"]:
            results.waits.append(await waits.measure(
                kind, tmp, sagas=args.wait_sagas, in_flight=k, amqp_url=url))
            _progress(f"a saga step's wall time, {kind}", results.waits[-1].step_ms, "ms")
    if postgres and not args.no_scaleout:
        print("scale-out: 1 and 2 daemons on one PostgreSQL", flush=True)
        results.scaleout = await scaleout.compare(
            [1, 2], tmp, sagas=args.scaleout_sagas, in_flight=k, repeat=args.scaleout_repeat,
            amqp_url=url, each=lambda r: print(f"  {scaleout.described(r)}", flush=True),
        )
    if args.no_scaling:
        return
    chosen = tuple(int(n) for n in args.levels.split(",") if n)
    chosen += (scaling.HUGE,) if args.huge else ()
    print("scaling", flush=True)
    results.levels = await scaling.levels(chosen, "sqlite", tmp, amqp_url=url,
                                          prefetch=prefetch)
    for level in results.levels:
        _progress(level.label, level.sagas_per_second, "sagas/s")
    if args.window > 0:
        for in_flight in (100, scaling.HUGE):
            async with fresh_store("sqlite", tmp) as store:
                results.windows.append(await window.measure(
                    store, in_flight, args.window, amqp_url=url, prefetch=prefetch,
                    ramp_limit=1800.0,
                ))
            _progress(f"{in_flight:,} in flight (window)", results.windows[-1].steps_per_second,
                      "steps/s")
    print(f"{args.parked:,} waiting instances, {args.history_rows:,} history rows", flush=True)
    results.parked = await scaling.parked(
        "sqlite", tmp, instances=args.parked, history_rows=args.history_rows, amqp_url=url,
        prefetch=prefetch, template=args.template,
    )


def _faststream(results: Results) -> ModuleType | None:
    """`bench.pingpong_faststream`, or None (and a note) when FastStream is missing."""
    try:
        return importlib.import_module("bench.pingpong_faststream")
    except ImportError:
        results.notes.append(
            "FastStream is not installed, so (2) was skipped: "
            "`pip install 'faststream[rabbit]'` (the `bench` extra) and run again."
        )
        return None


def _progress(label: str, figure: float, unit: str) -> None:
    print(f"  {label}: {figure:,.0f} {unit}", flush=True)


def main() -> None:
    args = parse()
    configure_logging("console", "warning")
    loop = eventloop.chosen(args.loop)
    postgres = not args.no_postgres and postgres_reachable()
    results = Results(
        settings={
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "K (conversations / orders in flight)": args.conversations,
            "S (steps)": args.steps,
            "N (order sagas per run)": args.sagas,
            "prefetch": args.prefetch,
            "batch max": args.batch_max,
            "repeats": args.repeat,
            "event loop (every part, baselines included)": loop,
        },
        in_flight=args.conversations,
        machine=machine(),
    )
    if not postgres and not args.no_postgres:
        results.notes.append("PostgreSQL was unreachable: (4) on PostgreSQL was skipped.")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            eventloop.run(bench(args, results, postgres, tmp), loop=loop)
        except (KeyboardInterrupt, asyncio.CancelledError):
            sys.exit("interrupted: nothing written (the run's queues and stores are deleted)")
    results.machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results.machine["whole run"] = f"{time.perf_counter() - started:.0f} s"
    print()
    print(write(results, args.out))
    print(f"written to {args.out}")


main()
