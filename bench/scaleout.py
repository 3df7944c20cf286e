"""One daemon against several on one PostgreSQL and one RabbitMQ, in the same run.

    python -m bench.scaleout [--daemons 1,2] [--sagas 300] [--in-flight 100] [--repeat 2]

Each round starts N daemon processes (`bench.scaling --serve`: the services and sagas
as `sagabus run` serves them) on one fresh PostgreSQL schema and one namespace, drives
`--sagas` order sagas through them (`bench.order_saga.drive`, `--in-flight` at once)
and stops them. Rounds of the daemon counts alternate, `--repeat` times, so that each
meets the same background load. Printed per round: sagas/s, and the CPU the daemons
used per saga (user + system, from /proc: independent of the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.order_saga import drive, fresh_store
from bench.pingpong_aiopika import AMQP_URL
from bench.scaling import READY, delete_daemon_topology
from bus import Settings
from bus.observability.logging import configure_logging

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def round_of(daemons: int, tmp: str, *, sagas: int, in_flight: int) -> tuple[float, float]:
    """sagas/s and daemon CPU seconds per saga with `daemons` daemon processes."""
    async with fresh_store("postgres", tmp) as base_url:
        namespace = f"bench-so-{uuid.uuid4().hex[:8]}"
        settings = Settings(amqp_url=AMQP_URL, store=base_url, namespace=namespace)
        procs = []
        try:
            for _ in range(daemons):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.scaling", "--serve", base_url,
                    "--namespace", namespace, "--amqp-url", AMQP_URL,
                    stdout=asyncio.subprocess.PIPE,
                )
                procs.append(proc)
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 120)
                if line.decode().strip() != READY:
                    raise RuntimeError(f"a daemon did not start: {line!r}")
            before = sum(cpu_seconds(p.pid) for p in procs)
            started = time.perf_counter()
            await drive(settings, in_flight=in_flight, total=sagas, limit=600)
            seconds = time.perf_counter() - started
            used = sum(cpu_seconds(p.pid) for p in procs) - before
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    await asyncio.wait_for(proc.wait(), 60)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            await delete_daemon_topology(settings)
    return sagas / seconds, used / sagas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemons", default="1,2")
    parser.add_argument("--sagas", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    configure_logging("console", "warning")
    counts = [int(n) for n in args.daemons.split(",")]
    rates: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, list[float]] = {n: [] for n in counts}

    async def rounds() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                for n in counts:
                    rate, per_saga = await round_of(
                        n, tmp, sagas=args.sagas, in_flight=args.in_flight
                    )
                    rates[n].append(rate)
                    cpu[n].append(per_saga)
                    print(f"{n} daemon(s): {rate:.1f} sagas/s, daemon CPU "
                          f"{per_saga * 1000:.1f} ms per saga", flush=True)

    print(f"load average at start: {os.getloadavg()}")
    asyncio.run(rounds())
    first = counts[0]
    for n in counts:
        ratios = [r / f for r, f in zip(rates[n], rates[first], strict=True)]
        print(f"{n} daemon(s): median {statistics.median(rates[n]):.1f} sagas/s, "
              f"{statistics.median(ratios):.2f}x of {first}; daemon CPU "
              f"{statistics.median(cpu[n]) * 1000:.1f} ms per saga")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
