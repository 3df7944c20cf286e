"""Load-independent figures for the order saga: SQL statements per saga and CPU per stage.

    python -m bench.stages [--sagas 120] [--in-flight 100] [--store sqlite|postgres|both]

Wall-clock throughput on a shared machine moves with the load; these figures do not:

- statements per saga: every call into the store's driver during the run (the SQLite
  store's `execute`, `executemany`, `fetchall`, which run on the loop's thread, and
  `begin`, `commit`, `rollback`, each one hop to the connection's thread and back;
  asyncpg's `execute`, `fetch`, `fetchrow`, `fetchval`, `executemany`, each one round
  trip, BEGIN/COMMIT/SAVEPOINT included), divided by the sagas of the run (reading
  the results back afterwards is not counted; opening the store is not either).
- CPU per stage: the run again under cProfile with `time.thread_time` as its clock (CPU
  of the event loop's thread only, so other processes do not count), each stage the
  cumulative time of the functions that do it; the shares are then applied to the CPU
  per message of the unprofiled run (`time.thread_time` of the loop thread, and
  `time.process_time` minus it for the store's and the drivers' other threads).

Stages: decode (`Pipeline._decode`), inbox (`inbox_add*`), savepoints, handler (the
endpoints' `handle`, with the store calls it makes: the saga row, history, timers; a
saga's start also counts its savepoint here and under savepoints), outbox
(`outbox_add`), commit (the store's `transaction`: BEGIN, COMMIT, the lock), publish
(`Pipeline._publish`, `OutboxRelay.publish`, aiormq's `basic_publish`: they run as
tasks of their own), ack (`RabbitMQSubscription.ack`), amqp in (the connection's frame
reader, `bus.wire.amqp_reader`'s or aiormq's, and aiormq's channel frame readers:
deliveries and confirms decoded), other (the rest
of the loop thread: asyncio itself, writing frames, the client driving the orders,
timers). The loop thread's CPU time still moves with the load (caches, frequency):
"Python calls/msg" (function calls per delivery under the profiler) does not.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bench import order_saga
from bench.order_saga import fresh_store
from bus.observability.logging import configure_logging
from bus.store.postgres.store import PostgresStore
from bus.store.sqlite.driver import SQLiteConnection

SQLITE_CALLS = ("execute", "executemany", "fetchall", "begin", "commit", "rollback")
POSTGRES_CALLS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")

STAGES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("decode", (("bus/unitofwork/pipeline.py", "_decode"),)),
    ("inbox", (("/messaging.py", "inbox_add"), ("/messaging.py", "inbox_add_many"))),
    ("savepoints", (("/transaction.py", "savepoint"),)),
    ("handler", (("saga_dsl/engine/endpoint.py", "handle"),
                 ("bus/unitofwork/service.py", "handle"))),
    ("outbox", (("/messaging.py", "outbox_add"),)),
    ("commit", (("/store.py", "transaction"),)),
    ("publish", (("bus/unitofwork/pipeline.py", "_publish"),
                 ("bus/unitofwork/outbox.py", "publish"),
                 ("aiormq/channel.py", "basic_publish"))),
    ("ack", (("bus/wire/rabbitmq.py", "ack"),)),
    ("amqp in", (("aiormq/connection.py", "__reader"), ("aiormq/channel.py", "_reader"),
                 ("bus/wire/amqp_reader.py", "_Connection__reader"))),
)
"""Each stage and the (file suffix, function) whose cumulative CPU it is."""

@dataclass
class Statements:
    """Driver calls by name while counting."""

    calls: Counter[str] = field(default_factory=Counter)
    by_sql: Counter[str] = field(default_factory=Counter)
    """The same calls by their statement's text (whitespace folded, cut at 110
    characters), for `--by-sql`."""
    stopped: bool = False
    """Set once the orders have ended: reading the results back is not counted."""
    opening: int = 0
    """Stores being opened (their migration's statements are not counted)."""

    def stop(self) -> None:
        self.stopped = True

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@contextmanager
def counting() -> Iterator[Statements]:
    """Counts every call into the SQLite store's and asyncpg's connections while open."""
    seen = Statements()
    patched: list[tuple[type, str, Any]] = []

    def wrap(cls: type, name: str, prefix: str) -> None:
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not seen.stopped and not seen.opening:
                seen.calls[f"{prefix}.{name}"] += 1
                text = args[0] if args and isinstance(args[0], str) else name.upper()
                seen.by_sql[f"{prefix}: {' '.join(text.split())[:110]}"] += 1
            return original(self, *args, **kwargs)

        patched.append((cls, name, original))
        setattr(cls, name, counted)

    def not_while_opening(cls: type) -> None:
        original = cls.open  # type: ignore[attr-defined]

        async def opened(self: Any) -> None:
            seen.opening += 1
            try:
                await original(self)
            finally:
                seen.opening -= 1

        patched.append((cls, "open", original))
        cls.open = opened  # type: ignore[attr-defined]

    # PostgreSQL's migration runs on an asyncpg connection (SQLite's on the raw one)
    not_while_opening(PostgresStore)
    for name in SQLITE_CALLS:
        wrap(SQLiteConnection, name, "sqlite")
    for name in POSTGRES_CALLS:
        wrap(asyncpg.connection.Connection, name, "postgres")
    try:
        yield seen
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)


@dataclass
class StageFigures:
    """What one store's runs gave."""

    kind: str
    sagas: int
    messages: int
    statements: Statements
    loop_cpu_us: float
    """Loop-thread CPU per message, unprofiled (µs)."""
    other_threads_cpu_us: float
    """CPU of the other threads per message (the SQLite connection's thread, the
    drivers'), unprofiled."""
    shares: dict[str, float]
    """Each stage's share of the loop thread's CPU under the profiler."""
    calls_per_message: float = 0.0
    """Python function calls per message in the loop thread (profiled run): a measure
    of the work that, unlike CPU time, does not move with the machine's load."""

    @property
    def statements_per_saga(self) -> float:
        return self.statements.total / self.sagas

    def stage_us(self) -> dict[str, float]:
        return {stage: share * self.loop_cpu_us for stage, share in self.shares.items()}


def shares_of(profile: cProfile.Profile) -> tuple[dict[str, float], int, int]:
    """Each stage's share of the profiled thread's CPU, the deliveries decoded and the
    function calls made."""
    profiled = pstats.Stats(profile)
    stats: dict[Any, Any] = profiled.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())  # tottime of every function
    cumulative: dict[str, float] = {}
    messages = 0
    for stage, functions in STAGES:
        cumulative[stage] = 0.0
        for (filename, _, function), (_, calls, _, cumtime, _) in stats.items():
            if any(filename.endswith(f) and function == fn for f, fn in functions):
                cumulative[stage] += cumtime
                if stage == "decode":
                    messages += calls
    cumulative["other"] = max(0.0, total - sum(cumulative.values()))
    return ({stage: value / total for stage, value in cumulative.items()} if total else {},
            messages, profiled.total_calls)  # type: ignore[attr-defined]


async def one_run(
    kind: str, tmp: str, *, sagas: int, in_flight: int,
    drained: Callable[[], None] | None = None,
) -> float:
    async with fresh_store(kind, tmp) as url:
        result = await order_saga.run(
            store=url, namespace=f"bench-st-{uuid.uuid4().hex[:8]}", in_flight=in_flight,
            total=sagas, label=kind, drained=drained,
        )
    return result.steps_per_second


async def measure(kind: str, tmp: str, *, sagas: int, in_flight: int) -> StageFigures:
    """One counted, unprofiled run and one profiled run of `sagas` order sagas."""
    with counting() as statements:
        loop0, process0 = time.thread_time(), time.process_time()
        await one_run(kind, tmp, sagas=sagas, in_flight=in_flight, drained=statements.stop)
        loop_cpu = time.thread_time() - loop0
        other_cpu = time.process_time() - process0 - loop_cpu
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    try:
        await one_run(kind, tmp, sagas=sagas, in_flight=in_flight)
    finally:
        profile.disable()
    shares, messages, calls = shares_of(profile)
    messages = max(messages, 1)
    return StageFigures(
        kind=kind, sagas=sagas, messages=messages, statements=statements,
        loop_cpu_us=loop_cpu / messages * 1e6,
        other_threads_cpu_us=max(0.0, other_cpu) / messages * 1e6, shares=shares,
        calls_per_message=calls / messages,
    )


def table(figures: list[StageFigures]) -> list[str]:
    """Markdown lines: statements per saga, then CPU per stage (µs per message)."""
    stages = [stage for stage, _ in STAGES] + ["other"]
    lines = [
        "| store | statements per saga | messages per saga | "
        + " | ".join(f"{s} µs" for s in stages)
        + " | loop thread µs/msg | other threads µs/msg | Python calls/msg |",
        "|---|---:|---:|" + "---:|" * (len(stages) + 3),
    ]
    for f in figures:
        us = f.stage_us()
        lines.append(
            f"| {f.kind} | {f.statements_per_saga:.1f} | {f.messages / f.sagas:.1f} | "
            + " | ".join(f"{us.get(s, 0.0):.0f}" for s in stages)
            + f" | {f.loop_cpu_us:.0f} | {f.other_threads_cpu_us:.0f} "
            f"| {f.calls_per_message:,.0f} |"
        )
    return lines


def detail(figures: list[StageFigures]) -> list[str]:
    """The driver calls per saga by kind, one line per store."""
    lines = []
    for f in figures:
        calls = ", ".join(
            f"{name} {count / f.sagas:.1f}" for name, count in f.statements.calls.most_common()
        )
        lines.append(f"- {f.kind}: {calls}")
    return lines


def by_sql(figures: list[StageFigures]) -> list[str]:
    """The driver calls per saga by statement text, most frequent first."""
    lines = []
    for f in figures:
        lines.append(f"{f.kind}:")
        lines.extend(
            f"  {count / f.sagas:5.2f}  {text}" for text, count in f.statements.by_sql.most_common()
        )
    return lines


async def run_all(kinds: list[str], tmp: str, *, sagas: int, in_flight: int,
                  each: Callable[[StageFigures], None] | None = None) -> list[StageFigures]:
    figures = []
    for kind in kinds:
        figure = await measure(kind, tmp, sagas=sagas, in_flight=in_flight)
        figures.append(figure)
        if each is not None:
            each(figure)
    return figures


def store_arguments(description: str, *, sagas: int) -> argparse.ArgumentParser:
    """The options of a part run on its own: sagas per run, in flight, which stores."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sagas", type=int, default=sagas)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    return parser


def kinds_of(args: argparse.Namespace) -> list[str]:
    return ["sqlite", "postgres"] if args.store == "both" else [args.store]


def main() -> None:
    parser = store_arguments(__doc__.split("\n\n")[0], sagas=120)
    parser.add_argument("--by-sql", action="store_true",
                        help="also list the statements per saga by their SQL text")
    args = parser.parse_args()
    configure_logging("console", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run_all(kinds_of(args), tmp, sagas=args.sagas,
                                      in_flight=args.in_flight))
    print("\n".join(table(figures)))
    print("\n".join(detail(figures)))
    if args.by_sql:
        print("\n".join(by_sql(figures)))


if __name__ == "__main__":
    main()
