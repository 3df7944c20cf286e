"""One daemon against several on one PostgreSQL and one RabbitMQ, in the same run.

    python -m bench.scaleout [--daemons 1,2] [--sagas 300] [--in-flight 100] [--repeat 2]

Each round starts N daemon processes (`bench.scaling --serve`: the services and sagas
as `sagabus run` serves them) on one fresh PostgreSQL schema and one namespace, drives
`--sagas` order sagas through them (`bench.order_saga.drive`, `--in-flight` at once)
and stops them. Rounds of the daemon counts alternate, `--repeat` times, so that each
meets the same background load. Per round: sagas/s, the CPU the daemons used per saga
(user + system, from /proc: independent of the machine's load), and where the
machine's cores went meanwhile (`bench.cpu`: the daemons, this process driving the
orders, the broker, PostgreSQL, everybody else). `python -m bench` runs it as part (6)
(`--no-scaleout` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.cpu import CpuShare, measuring, pooled
from bench.order_saga import drive, fresh_store
from bench.pingpong_aiopika import AMQP_URL
from bench.scaling import READY, delete_daemon_topology
from bus import Settings
from bus.observability.logging import configure_logging


@dataclass
class ScaleRound:
    daemons: int
    sagas_per_second: float
    share: CpuShare
    """The daemons' CPU is `share.extra`."""
    sagas: int

    @property
    def daemon_cpu_per_saga(self) -> float:
        return self.share.extra / self.sagas if self.sagas else 0.0


@dataclass
class ScaleOut:
    """Every round of one comparison, in the order run."""

    rounds: list[ScaleRound] = field(default_factory=list)

    def of(self, daemons: int) -> list[ScaleRound]:
        return [r for r in self.rounds if r.daemons == daemons]

    def counts(self) -> list[int]:
        return sorted({r.daemons for r in self.rounds})

    def ratio(self, daemons: int, base: int = 1) -> list[float]:
        """Per repeat: sagas/s with `daemons` over sagas/s with `base` (back to back)."""
        return [r.sagas_per_second / b.sagas_per_second
                for r, b in zip(self.of(daemons), self.of(base), strict=False)
                if b.sagas_per_second > 0]

    def median_rate(self, daemons: int) -> float:
        return statistics.median(r.sagas_per_second for r in self.of(daemons))

    def median_cpu(self, daemons: int) -> float:
        return statistics.median(r.daemon_cpu_per_saga for r in self.of(daemons))

    def share(self, daemons: int) -> CpuShare:
        return pooled([r.share for r in self.of(daemons)])


async def round_of(daemons: int, tmp: str, *, sagas: int, in_flight: int,
                   amqp_url: str = AMQP_URL) -> ScaleRound:
    """One round: `daemons` daemon processes, `sagas` order sagas driven through them."""
    async with fresh_store("postgres", tmp) as base_url:
        namespace = f"bench-so-{uuid.uuid4().hex[:8]}"
        settings = Settings(amqp_url=amqp_url, store=base_url, namespace=namespace)
        procs = []
        try:
            for _ in range(daemons):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.scaling", "--serve", base_url,
                    "--namespace", namespace, "--amqp-url", amqp_url,
                    stdout=asyncio.subprocess.PIPE,
                )
                procs.append(proc)
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 120)
                if line.decode().strip() != READY:
                    raise RuntimeError(f"a daemon did not start: {line!r}")
            with measuring([p.pid for p in procs]) as measured:
                seconds = await drive(settings, in_flight=in_flight, total=sagas, limit=600)
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
    return ScaleRound(daemons, sagas / seconds, measured.share, sagas)


async def compare(counts: list[int], tmp: str, *, sagas: int, in_flight: int, repeat: int,
                  amqp_url: str = AMQP_URL,
                  each: Callable[[ScaleRound], None] | None = None) -> ScaleOut:
    """Rounds of each daemon count in `counts`, alternating, `repeat` times."""
    out = ScaleOut()
    for _ in range(repeat):
        for n in counts:
            out.rounds.append(await round_of(n, tmp, sagas=sagas, in_flight=in_flight,
                                             amqp_url=amqp_url))
            if each is not None:
                each(out.rounds[-1])
    return out


def described(r: ScaleRound) -> str:
    return (f"{r.daemons} daemon(s): {r.sagas_per_second:.1f} sagas/s, daemon CPU "
            f"{r.daemon_cpu_per_saga * 1000:.1f} ms per saga")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemons", default="1,2")
    parser.add_argument("--sagas", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args()
    configure_logging("console", "warning")
    counts = [int(n) for n in args.daemons.split(",")]

    async def rounds() -> ScaleOut:
        with tempfile.TemporaryDirectory() as tmp:
            return await compare(counts, tmp, sagas=args.sagas, in_flight=args.in_flight,
                                 repeat=args.repeat, amqp_url=args.amqp_url,
                                 each=lambda r: print(described(r), flush=True))

    print(f"load average at start: {os.getloadavg()}")
    out = asyncio.run(rounds())
    for n in counts:
        print(f"{n} daemon(s): median {out.median_rate(n):.1f} sagas/s, "
              f"{statistics.median(out.ratio(n, counts[0])):.2f}x of {counts[0]}; daemon CPU "
              f"{out.median_cpu(n) * 1000:.1f} ms per saga")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
