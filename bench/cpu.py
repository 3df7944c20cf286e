"""Where the machine's cores go during a part of the benchmark, from /proc.

    with cpu.measuring() as measured:
        ...                      # the part
    measured.share.bench         # CPU seconds of this process (every thread)

Counted between the start and the end of the block: this process (user + system of
every thread: the bus's loop, the driver of the orders, the SQLite connection's
thread), the broker (`beam.smp`, RabbitMQ's Erlang VM) and PostgreSQL (every
`postgres` process), both read again every `SAMPLE_SECONDS` so that a process that
exits during the block (a backend whose connection a part's pool closes at its end) is
counted up to its last reading instead of showing as everybody else's work, extra
processes named by pid (the daemons of `bench.scaleout`), and the whole machine's
busy time (/proc/stat): what is left is everybody else on the machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
BROKER = "beam.smp"
DATABASE = "postgres"
SAMPLE_SECONDS = 0.25
"""How often the named processes are read again during a block: a process that exits
is missed for at most this long of its work."""


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds of process `pid` (every thread), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def named(*names: str) -> dict[int, tuple[str, float]]:
    """The command name and CPU seconds of every process whose command name is one of
    `names`, by pid (one pass over /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in names:
                found[int(entry.name)] = (comm, cpu_seconds(entry.name))
    return found


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores, /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


@dataclass
class CpuShare:
    """CPU seconds spent by each party during `seconds` of wall time."""

    seconds: float = 0.0
    bench: float = 0.0
    broker: float = 0.0
    database: float = 0.0
    extra: float = 0.0
    machine: float = 0.0
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def others(self) -> float:
        """The rest of the machine: other people's work, the kernel's threads."""
        return max(0.0, self.machine - self.bench - self.broker - self.database - self.extra)

    @property
    def idle(self) -> float:
        return max(0.0, self.seconds * self.cores - self.machine)

    def of_a_core(self, cpu: float) -> float:
        """`cpu` seconds as a share of one core over the block (1.0: a whole core)."""
        return cpu / self.seconds if self.seconds > 0 else 0.0


class NamedCpu:
    """The CPU seconds of every process with one of `names` for command name, read at
    the start, every `interval` seconds on a thread of its own, and at the end: the
    last reading of each process counts, so one that exits during the block is not
    lost."""

    def __init__(self, *names: str, interval: float = SAMPLE_SECONDS) -> None:
        self.names = names
        self.interval = interval
        self.before = named(*names)
        self.last = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="cpu-named")
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.last.update(named(*self.names))

    def stop(self) -> dict[str, float]:
        """CPU seconds spent during the block by the processes of each name."""
        self._stop.set()
        self._thread.join()
        self.last.update(named(*self.names))
        spent = dict.fromkeys(self.names, 0.0)
        for pid, (name, cpu) in self.last.items():
            spent[name] += cpu - self.before.get(pid, (name, 0.0))[1]
        return spent


def _snapshot(pids: Sequence[int]) -> tuple[float, float, float, float]:
    return (time.perf_counter(), cpu_seconds("self"), sum(cpu_seconds(p) for p in pids),
            machine_busy())


@dataclass
class Measured:
    share: CpuShare = field(default_factory=CpuShare)


@contextmanager
def measuring(pids: Sequence[int] = (), database: str = DATABASE) -> Iterator[Measured]:
    """Fills the yielded `Measured.share` when the block ends (normally); `database`
    is the command name of the database's processes."""
    measured = Measured()
    named_cpu = NamedCpu(BROKER, database)
    start = _snapshot(pids)
    try:
        yield measured
    finally:
        end = _snapshot(pids)
        spent = named_cpu.stop()
    measured.share = CpuShare(
        seconds=end[0] - start[0], bench=end[1] - start[1],
        broker=spent[BROKER], database=spent[database],
        extra=end[2] - start[2], machine=end[3] - start[3],
    )


def pooled(shares: Sequence[CpuShare]) -> CpuShare:
    """The sum of several blocks (the repeats of a part)."""
    total = CpuShare()
    for s in shares:
        total.seconds += s.seconds
        total.bench += s.bench
        total.broker += s.broker
        total.database += s.database
        total.extra += s.extra
        total.machine += s.machine
    return total
