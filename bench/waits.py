"""Where the wall time of the order saga goes: each endpoint's batches, phase by phase.

    python -m bench.waits [--sagas 300] [--in-flight 100] [--store sqlite|postgres|both]

`bench.cpu` shows that the order saga leaves a core idle: it waits more than it
computes. This measures the waiting. In the bench process only (the product is not
changed), `Pipeline`'s methods and the stores' `transaction` are wrapped, and each
batch of each endpoint (the saga endpoint and every service) is timed, in the order
of `Pipeline._run`:

- idle: from the end of the previous batch's turn to the start of this one's
  `_work` (waiting for deliveries; a batch is whatever had arrived);
- queued: per delivery, from its arrival in the pipeline's buffer to the start of
  its batch (the wait for the batch in progress), averaged over the deliveries;
- lock + BEGIN: entering the store's transaction (on SQLite the store's one
  connection is shared by every endpoint: this is also the wait for theirs);
- handling: steps 1-3 (decode, inbox, handlers, outbox), the rest of `_work`;
- COMMIT: leaving the transaction (the fsync, or PostgreSQL's WAL flush);
- settling wait: from the end of `_work` until the previous batch's steps 5-6 were
  done (`_run` awaits them before it starts this batch's), and how often it waited;
- publish + confirms: `Pipeline._publish` (the outbox rows published, the broker's
  confirms awaited);
- ack: the rest of `_settle`.

A delivery's time at an endpoint (a "crossing") is queued + lock + handling + COMMIT
+ settling wait + publish + confirms; its messages reach the next queue while the
confirms are awaited, so it is an upper bound. A step of the saga crosses a service
and the saga endpoint: the chain, (steps - 1) crossings of each, is compared with
the measured OrderCreated -> final, the rest being the broker's hops. The floor under
every COMMIT is measured too: the median write + fsync of a file on the filesystem of
the SQLite stores, and the median INSERT + COMMIT (autocommit) round trip on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bench import order_saga
from bench.order_saga import PG_URL, SAGA, fresh_store
from bench.pingpong_aiopika import AMQP_URL
from bench.stages import kinds_of, store_arguments
from bus.observability.logging import configure_logging
from bus.store.postgres.store import PostgresStore
from bus.store.sqlite.store import SQLiteStore
from bus.unitofwork.pipeline import Pipeline

now = time.perf_counter

PHASES = ("idle", "queued", "lock + BEGIN", "handling", "COMMIT", "settling wait",
          "publish + confirms", "ack")
"""The phases of a batch, in `Pipeline._run`'s order (see the module docstring)."""
CROSSING = ("queued", "lock + BEGIN", "handling", "COMMIT", "settling wait",
            "publish + confirms")
"""The phases a delivery waits through between its arrival and its messages' confirms."""
WORK = ("lock + BEGIN", "handling", "COMMIT")
"""The phases of `Pipeline._work`, during which the endpoint takes no other batch."""


@dataclass
class Batch:
    """One batch of one endpoint: its size and its seconds in each phase."""

    deliveries: int
    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    waited: bool = False
    """Whether the previous batch's settling was still going when this one's work ended."""
    working: bool = True


@dataclass
class _Track:
    """What is known of one pipeline while the run goes."""

    name: str
    batches: list[Batch] = field(default_factory=list)
    arrived: dict[int, float] = field(default_factory=dict)
    turn_ended: float | None = None
    work_ended: float = 0.0
    settled: float = 0.0


@dataclass
class EndpointWaits:
    """One endpoint's batches of a run, summed up (milliseconds per batch)."""

    name: str
    batches: int
    deliveries: int
    median_batch: float
    ms: dict[str, float]
    """Mean per batch of each phase; "queued" is the mean per delivery."""
    waited: float
    """Share of the batches that waited for the previous batch's settling."""
    busy: float = 0.0
    """Share of the run's wall time its loop spent in `_work` (lock + BEGIN, handling,
    COMMIT): an endpoint takes one batch at a time, so near 1 it is the bottleneck."""

    @property
    def mean_batch(self) -> float:
        return self.deliveries / self.batches if self.batches else 0.0

    @property
    def crossing_ms(self) -> float:
        return sum(self.ms[phase] for phase in CROSSING)


@dataclass
class WaitFigures:
    """The wait profile of one store's run, with what the run measured end to end."""

    kind: str
    sagas: int
    in_flight: int
    endpoints: list[EndpointWaits]
    sagas_per_second: float
    steps_per_saga: float
    latency_mean_ms: float
    """Measured OrderCreated -> final state, mean over the run's sagas."""
    floor_us: float = 0.0
    """The store's durable write on its own: raw fsync (sqlite), INSERT + COMMIT (postgres)."""
    floor_what: str = ""
    seconds: float = 0.0
    """The run's wall time (orders driven, from the first to the last)."""

    @property
    def saga(self) -> EndpointWaits | None:
        return next((e for e in self.endpoints if is_saga(e.name)), None)

    @property
    def held_share(self) -> float:
        """Transactions open (handling + COMMIT), summed over every batch, per second of
        the run: on SQLite, whose one connection serves every endpoint in turn, the share
        of the run the store was busy; on PostgreSQL, the transactions open at once."""
        held = sum(e.batches * (e.ms["handling"] + e.ms["COMMIT"]) for e in self.endpoints)
        return held / 1000 / self.seconds if self.seconds else 0.0

    @property
    def service_crossing_ms(self) -> float:
        """A service crossing, the services weighted by their deliveries."""
        services = [e for e in self.endpoints if not is_saga(e.name) and e.deliveries]
        total = sum(e.deliveries for e in services)
        return sum(e.crossing_ms * e.deliveries for e in services) / total if total else 0.0

    @property
    def step_ms(self) -> float:
        """One step: a crossing of a service and one of the saga endpoint."""
        saga = self.saga
        return self.service_crossing_ms + (saga.crossing_ms if saga else 0.0)

    @property
    def chain_ms(self) -> float:
        """The expected OrderCreated -> final: the steps after OrderCreated."""
        return max(self.steps_per_saga - 1, 0.0) * self.step_ms

    @property
    def little_sagas_per_second(self) -> float:
        """The throughput Little's law gives at `in_flight` when every step of a saga,
        CreateOrder's included, costs `step_ms`."""
        whole = self.steps_per_saga * self.step_ms / 1000
        return self.in_flight / whole if whole else 0.0


def is_saga(endpoint: str) -> bool:
    return endpoint == f"saga.{SAGA}"


_current: ContextVar[Batch | None] = ContextVar("bench_waits_batch", default=None)


class _StampedQueue(asyncio.Queue[Any]):
    """A pipeline's buffer that notes when each delivery arrived."""

    def __init__(self, arrived: dict[int, float]) -> None:
        super().__init__()
        self.arrived = arrived

    def put_nowait(self, item: Any) -> None:
        self.arrived[id(item)] = now()
        super().put_nowait(item)


@contextmanager
def timing() -> Iterator[dict[int, _Track]]:
    """While open, every `Pipeline` started is timed batch by batch (by its id)."""
    tracks: dict[int, _Track] = {}
    patched: list[tuple[type, str, Any]] = []

    def patch(cls: type, name: str, make: Callable[[Any], Any]) -> None:
        original = cls.__dict__[name]
        patched.append((cls, name, original))
        setattr(cls, name, make(original))

    def start(original: Any) -> Any:
        async def started(self: Pipeline) -> None:
            track = tracks[id(self)] = _Track(self.endpoint.name)
            self._buffer = _StampedQueue(track.arrived)
            await original(self)
        return started

    def work(original: Any) -> Any:
        async def worked(self: Pipeline, batch: Sequence[Any]) -> Any:
            track = tracks.get(id(self))
            if track is None:
                return await original(self, batch)
            started = now()
            record = Batch(len(batch))
            if track.turn_ended is not None:
                record.phases["idle"] = started - track.turn_ended
            queued = [started - track.arrived.pop(id(d), started) for d in batch]
            record.phases["queued"] = statistics.mean(queued) if queued else 0.0
            token = _current.set(record)
            try:
                settlement = await original(self, batch)
            finally:
                _current.reset(token)
                record.working = False
            track.work_ended = now()
            phases = record.phases
            phases["handling"] = max(0.0, track.work_ended - started - phases["lock + BEGIN"]
                                     - phases["COMMIT"])
            track.batches.append(record)
            if settlement is None:
                track.turn_ended = track.work_ended
            return settlement
        return worked

    def settle(original: Any) -> Any:
        def settling(self: Pipeline, settlement: Any) -> Coroutine[Any, Any, None]:
            track = tracks.get(id(self))
            if track is None or not track.batches:
                return original(self, settlement)  # type: ignore[no-any-return]
            record, track.turn_ended = track.batches[-1], now()
            record.phases["settling wait"] = track.turn_ended - track.work_ended
            record.waited = track.settled > track.work_ended
            return _timed_settle(original(self, settlement), record, track)
        return settling

    def publish(original: Any) -> Any:
        async def published(self: Pipeline, *args: Any) -> Any:
            started, record = now(), _current.get()
            try:
                return await original(self, *args)
            finally:
                if record is not None:
                    record.phases["publish + confirms"] += now() - started
        return published

    patch(Pipeline, "start", start)
    patch(Pipeline, "_work", work)
    patch(Pipeline, "_settle_or_requeue", settle)
    patch(Pipeline, "_publish", publish)
    for store in (SQLiteStore, PostgresStore):
        patch(store, "transaction", _timed_transaction)
    try:
        yield tracks
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)


async def _timed_settle(settling: Coroutine[Any, Any, None], record: Batch,
                        track: _Track) -> None:
    started = now()
    _current.set(record)  # this task's own context: `_publish` adds to this batch
    try:
        await settling
    finally:
        track.settled = now()
        phases = record.phases
        phases["ack"] = max(0.0, track.settled - started - phases["publish + confirms"])


def _timed_transaction(original: Any) -> Any:
    @asynccontextmanager
    async def transaction(self: Any) -> AsyncIterator[Any]:
        record = _current.get()
        manager = original(self)
        if record is None or not record.working:
            async with manager as tx:
                yield tx
            return
        started = now()
        tx = await manager.__aenter__()
        record.phases["lock + BEGIN"] += now() - started
        try:
            yield tx
        except BaseException as exc:
            if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
                raise
            return
        committing = now()
        await manager.__aexit__(None, None, None)
        record.phases["COMMIT"] += now() - committing
    return transaction


def summed(tracks: dict[int, _Track], seconds: float) -> list[EndpointWaits]:
    """Each endpoint's batches summed up, the saga endpoint first, then by name."""
    by_name: dict[str, list[Batch]] = {}
    for track in tracks.values():
        by_name.setdefault(track.name, []).extend(track.batches)
    out = []
    for name, batches in by_name.items():
        if not batches:
            continue
        deliveries = sum(b.deliveries for b in batches)
        ms = {p: 1000 * statistics.mean(b.phases[p] for b in batches) for p in PHASES}
        ms["queued"] = 1000 * sum(b.phases["queued"] * b.deliveries for b in batches) / deliveries
        out.append(EndpointWaits(
            name=name, batches=len(batches), deliveries=deliveries,
            median_batch=statistics.median(b.deliveries for b in batches), ms=ms,
            waited=sum(b.waited for b in batches) / len(batches),
            busy=sum(sum(b.phases[p] for p in WORK) for b in batches) / seconds if seconds else 0,
        ))
    return sorted(out, key=lambda e: (not is_saga(e.name), e.name))


def fsync_us(directory: str, rounds: int = 200) -> float:
    """Median µs of writing 4 KiB to a file in `directory` and fsync-ing it."""
    path = Path(directory) / f"fsync-{uuid.uuid4().hex[:8]}"
    block = os.urandom(4096)
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(rounds):
            started = now()
            os.write(fd, block)
            os.fsync(fd)
            times.append(now() - started)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return statistics.median(times) * 1e6


async def postgres_commit_us(rounds: int = 200) -> float:
    """Median µs of one INSERT committed on its own (autocommit: one round trip and the
    WAL flush of `synchronous_commit=on`) on the bench's PostgreSQL."""
    table = f"bench_waits_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"CREATE TABLE {table} (n integer)")
        times = []
        for n in range(rounds):
            started = now()
            await conn.execute(f"INSERT INTO {table} VALUES ($1)", n)
            times.append(now() - started)
        return statistics.median(times) * 1e6
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


async def measure(kind: str, tmp: str, *, sagas: int, in_flight: int,
                  amqp_url: str = AMQP_URL) -> WaitFigures:
    """One timed run of `sagas` order sagas on a fresh store of `kind`."""
    with timing() as tracks:
        async with fresh_store(kind, tmp) as url:
            run = await order_saga.run(
                store=url, namespace=f"bench-wt-{uuid.uuid4().hex[:8]}", in_flight=in_flight,
                total=sagas, label=kind, amqp_url=amqp_url,
            )
    if kind == "sqlite":
        floor, what = fsync_us(tmp), "write + fsync of 4 KiB, same filesystem"
    else:
        floor, what = await postgres_commit_us(), "INSERT + COMMIT, one round trip"
    return WaitFigures(
        kind=kind, sagas=sagas, in_flight=in_flight, endpoints=summed(tracks, run.seconds),
        sagas_per_second=run.sagas_per_second, steps_per_saga=run.steps / max(run.sagas, 1),
        latency_mean_ms=1000 * statistics.mean(run.latencies) if run.latencies else 0.0,
        floor_us=floor, floor_what=what, seconds=run.seconds,
    )


async def run_all(kinds: list[str], tmp: str, *, sagas: int, in_flight: int,
                  amqp_url: str = AMQP_URL) -> list[WaitFigures]:
    return [await measure(kind, tmp, sagas=sagas, in_flight=in_flight, amqp_url=amqp_url)
            for kind in kinds]


def table(figures: list[WaitFigures]) -> list[str]:
    """Markdown lines: one row per store and endpoint, ms per batch in each phase."""
    columns = ["store", "endpoint", "batches", "deliveries per batch (mean / median)",
               *(f"{p} ms" for p in PHASES), "waited for previous settling", "crossing ms",
               "busy"]
    lines = ["| " + " | ".join(columns) + " |", "|---|---|" + "---:|" * (len(columns) - 2)]
    for f in figures:
        for e in f.endpoints:
            lines.append(
                f"| {f.kind} | {e.name} | {e.batches:,} | {e.mean_batch:.1f} / "
                f"{e.median_batch:.0f} | "
                + " | ".join(f"{e.ms[p]:.1f}" for p in PHASES)
                + f" | {e.waited:.0%} | {e.crossing_ms:.1f} | {e.busy:.2f} |"
            )
    return lines


def largest(f: WaitFigures) -> tuple[str, float]:
    """The crossing phase with the most ms, averaged over the deliveries of every endpoint."""
    total = sum(e.deliveries for e in f.endpoints) or 1
    means = {p: sum(e.ms[p] * e.deliveries for e in f.endpoints) / total for p in CROSSING}
    phase = max(means, key=lambda p: means[p])
    return phase, means[phase]


def busiest(f: WaitFigures) -> str:
    """The endpoint busiest in `_work`, with its share and what it spent it on."""
    e = max(f.endpoints, key=lambda e: e.busy)
    work = sum(e.ms[p] for p in WORK) or 1.0
    return (f"{e.name} ({e.busy:.2f} of the run in its batches' work, of which "
            + ", ".join(f"{p} {e.ms[p] / work:.0%}" for p in WORK) + ")")


def chain(f: WaitFigures) -> str:
    """The chain of one store's run, as a sentence."""
    saga = f.saga
    saga_ms = saga.crossing_ms if saga else 0.0
    commit = statistics.mean(e.ms["COMMIT"] for e in f.endpoints) if f.endpoints else 0.0
    phase, phase_ms = largest(f)
    return (
        f"- {f.kind} ({f.sagas} sagas, {f.in_flight} in flight): a step crosses a service "
        f"({f.service_crossing_ms:.1f} ms, weighted by deliveries) and the saga endpoint "
        f"({saga_ms:.1f} ms): {f.step_ms:.1f} ms, of which the largest phase is {phase} "
        f"({phase_ms:.1f} ms per crossing). Chain: {max(f.steps_per_saga - 1, 0):.1f} steps "
        f"after OrderCreated x {f.step_ms:.1f} ms = {f.chain_ms:,.0f} ms expected, against "
        f"a measured OrderCreated -> final of {f.latency_mean_ms:,.0f} ms (mean; the chain "
        f"leaves out the broker's hops but counts every confirm whole, though a message "
        f"reaches the next queue before its confirm comes back). Little's law: "
        f"{f.in_flight} in flight / ({f.steps_per_saga:.1f} steps x {f.step_ms:.1f} ms) = "
        f"{f.little_sagas_per_second:,.0f} sagas/s in a steady state; the run measured "
        f"{f.sagas_per_second:,.1f} (its start and drain included). Transactions open "
        f"(handling + COMMIT): {f.held_share:.2f} of the run's {f.seconds:.1f} s"
        + (" on SQLite's one connection, which the endpoints take in turn" if f.kind == "sqlite"
           else " (transactions open at once, on the pool's connections)")
        + f". The busiest endpoint: {busiest(f)}. COMMIT {commit:.1f} ms per batch (mean of "
        f"the endpoints); the floor, "
        f"{f.floor_what}: {f.floor_us:,.0f} µs (median)."
    )


def main() -> None:
    args = store_arguments(__doc__.split("\n\n")[0], sagas=300).parse_args()
    configure_logging("console", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run_all(kinds_of(args), tmp, sagas=args.sagas,
                                      in_flight=args.in_flight))
    print("\n".join(table(figures)))
    print("\n".join(chain(f) for f in figures))


if __name__ == "__main__":
    main()
