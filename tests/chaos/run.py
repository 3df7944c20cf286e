"""The chaos run: N order sagas through real daemons while a seeded fault injector kills
daemons (SIGKILL, then restart), stops and starts RabbitMQ's app, duplicates deliveries
and makes services fail transiently; then the invariants are checked against the
services' own state and one table is printed.

    .venv/bin/python tests/chaos/run.py                       # 1,000 sagas, 2 daemons, PostgreSQL
    .venv/bin/python tests/chaos/run.py --store sqlite --daemons 1
    .venv/bin/python tests/chaos/run.py --sagas 100 --kills 3 --broker-restarts 2

Invariants (each violation is listed, and the exit code is 1):
- every saga is final, or parked with a reason (`lost` counts the others);
- each service handler committed at most once per message (`duplicated effects`), and
  per order at most one charge and one refund, a refund only of a charge, a completed
  order charged and not refunded, a cancelled one refunded when it was charged and its
  stock released when it was reserved;
- stock is conserved: what is missing from stock is what completed orders hold;
- no message is left in any queue but the dead-letter queues, and each dead letter
  carries its reason; the outbox is empty;
- each instance's history is consistent: no message moved it twice, no timer fired
  twice, and its last step ends in its final state;
- every customer was told the outcome (notifications, by choreography).

RabbitMQ's app is always started again (in a `finally`), and the run waits for port
5672 before it goes on; every daemon it started is killed before it returns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import asyncpg  # type: ignore[import-untyped]
from chaos_daemon import CountedService

import handlers.messages as m
from bus.daemon import import_package, services_in
from bus.deadletters.operations import DeadLetterQueues
from bus.deadletters.registry import registry_queue
from bus.deadletters.republishing import REASON
from bus.errors import SagabusError
from bus.observability.logging import configure_logging
from bus.settings import Settings
from bus.store import SagaRecord, Store, open_store
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import bus_topology
from bus.wire.client import BusClient
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names, QueueSpec, Topology, exchanges
from handlers.inventory import RESERVATIONS, STOCK
from handlers.notifications import SENT
from handlers.payments import CHARGES, REFUNDS
from saga_dsl.engine.wiring import saga_runtime

sys.path.append(str(Path(__file__).resolve().parent.parent))  # tests/, when run as a script
from support.broker_outage import BROKER_HOST, BROKER_PORT, broker_down, wait_for_port
from support.sagas import rewrite_saga

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DAEMON = HERE / "chaos_daemon.py"
SAGA = "order_processing"
RUNS = "chaos.runs"
AMQP_URL = os.environ.get("SAGABUS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get(
    "SAGABUS_TEST_POSTGRES", "postgresql://sagabus:sagabus@127.0.0.1:5432/sagabus"
)

SIGKILL = "daemon SIGKILL"
BROKER = "broker restart"
DUPLICATE = "duplicate delivery"
TRANSIENT = "transient failure"
KINDS = (SIGKILL, BROKER, DUPLICATE, TRANSIENT)


# -- the plan -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Path_:
    """One way through the order saga: how it is provoked, how it ends when nothing
    interferes, and the human review decision it needs (if any)."""

    name: str
    amount: float
    sku: str
    outcome: str
    review: str | None = None


PATHS = (
    Path_("completed", 120.0, "BOOK-1", "completed"),
    Path_("payment declined", 60_000.0, "YACHT-1", "cancelled"),
    Path_("out of stock", 80.0, "OOS-LAMP", "cancelled"),
    Path_("silent shipper", 95.0, "SLOW-SOFA", "cancelled"),
    Path_("review approved", 20_000.0, "PIANO-1", "completed", review="approve"),
    Path_("review rejected", 30_000.0, "HARP-1", "cancelled", review="reject"),
)


@dataclass(frozen=True)
class Config:
    sagas: int = 1_000
    daemons: int = 2
    store: str = "postgres"
    seed: int = 1
    kills: int = 6
    broker_restarts: int = 5
    duplicate_rate: float = 0.02
    failure_rate: float = 0.02
    placing: float = 60.0
    """Seconds over which the orders are placed (and the daemon and broker faults fall)."""
    within: float = 600.0
    """Seconds the sagas have to finish after the last order was placed."""
    workdir: Path | None = None


@dataclass
class Result:
    config: Config
    faults: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    parked: int = 0
    off_path: int = 0
    dead_letters: int = 0
    elapsed: float = 0.0
    violations: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.violations

    def table(self) -> str:
        rows = [
            ("sagas", f"{self.config.sagas} ({self.config.daemons} daemon(s), "
                      f"{self.config.store}, seed {self.config.seed})"),
            *[(f"faults: {kind}", str(self.faults[kind])) for kind in KINDS],
            ("lost", str(self.lost)),
            ("duplicated effects", str(self.duplicated)),
            ("parked", str(self.parked)),
            ("off their fault-free path", str(self.off_path)),
            ("dead letters", str(self.dead_letters)),
            ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))),
            ("time", f"{self.elapsed:.1f}s"),
            ("invariants", "all hold" if self.ok else f"{len(self.violations)} violated"),
        ]
        width = max(len(name) for name, _ in rows)
        value_width = max(len(value) for _, value in rows)
        line = f"+-{'-' * width}-+-{'-' * value_width}-+"
        body = [f"| {name:<{width}} | {value:<{value_width}} |" for name, value in rows]
        return "\n".join([line, *body, line])


def plan(count: int) -> list[tuple[str, Path_, int]]:
    """(order id, path, quantity): paths in turn, quantities 1-3."""
    return [(f"chaos-{i:05d}", PATHS[i % len(PATHS)], 1 + i % 3) for i in range(count)]


def write_saga(directory: Path) -> Path:
    """The real order saga with waits for a busy machine under faults: a shipper that
    answers is never given up on, even across a broker restart."""

    def change(saga: dict[str, Any]) -> None:
        states = saga["states"]
        for name in ("awaiting_payment", "reserving_inventory"):
            states[name]["retry"]["after"] = "10s"
            states[name]["timeout"]["after"] = "10m"
        states["manual_review"]["timeout"]["after"] = "10m"
        states["shipping"]["retry"]["after"] = "10s"
        states["shipping"]["timeout"]["after"] = "40s"

    return rewrite_saga(directory, change)




# -- daemons --------------------------------------------------------------------------------
class Daemon:
    """A `chaos_daemon.py` subprocess; restarted by the supervisor whenever it is down."""

    def __init__(self, number: int, env: dict[str, str], log: Path) -> None:
        self.number, self.env, self.log = number, env, log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, str(DAEMON), env=self.env, stdout=out, stderr=out,
                cwd=str(REPO),
            )

    async def kill(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self, within: float = 30) -> int | None:
        if not self.alive:
            return None if self.process is None else self.process.returncode
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            await self.kill()
            return None

    def started_count(self) -> int:
        return self.log.read_bytes().count(b"bus started") if self.log.exists() else 0


async def supervise(daemons: list[Daemon], stopping: asyncio.Event) -> None:
    """Restarts any daemon that is down (killed, or failed to start during an outage)."""
    while not stopping.is_set():
        for daemon in daemons:
            if not daemon.alive:
                await daemon.start()
        await asyncio.sleep(0.5)


# -- the run ----------------------------------------------------------------------------
async def run(config: Config) -> Result:
    result = Result(config)
    rng = random.Random(config.seed)
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="sagabus-chaos-"))
    namespace = f"chaos{uuid.uuid4().hex[:8]}"
    store_url, drop = await _store_url(config, workdir, namespace)
    settings = Settings(amqp_url=AMQP_URL, store=store_url, namespace=namespace,
                        relay_interval=0.5)
    sagas = write_saga(workdir / "sagas")
    fault_log = workdir / "faults.log"
    fault_log.touch()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "SAGABUS_AMQP_URL": AMQP_URL, "SAGABUS_STORE": store_url,
        "SAGABUS_NAMESPACE": namespace, "SAGABUS_LOG_FORMAT": "json",
        "SAGABUS_LOG_LEVEL": "info", "SAGABUS_RELAY_INTERVAL": "0.5",
        "CHAOS_SEED": str(config.seed), "CHAOS_SAGAS": str(sagas),
        "CHAOS_FAULT_LOG": str(fault_log),
        "CHAOS_DUPLICATE_RATE": str(config.duplicate_rate),
        "CHAOS_FAILURE_RATE": str(config.failure_rate),
    }
    daemons = [Daemon(n, env, workdir / f"daemon{n}.log") for n in range(1, config.daemons + 1)]
    topology = _topology(settings, sagas)
    orders = plan(config.sagas)
    stopping = asyncio.Event()
    supervisor: asyncio.Task[None] | None = None
    started = time.monotonic()
    try:
        async with open_store(store_url) as store:
            for daemon in daemons:
                await daemon.start()
            await _until(lambda: all(d.started_count() for d in daemons), 60, "daemons started")
            supervisor = asyncio.create_task(supervise(daemons, stopping))
            placing = asyncio.create_task(_place(settings, orders, config.placing))
            await _inject(config, rng, daemons, result)
            await placing
            records = await _finish(store, settings, orders, config.within)
            await _quiesce(store, topology, config.within)
            stopping.set()
            await supervisor
            for daemon in daemons:
                await daemon.stop()
            result.elapsed = time.monotonic() - started
            result.faults.update(line for line in fault_log.read_text().splitlines() if line)
            await _check(result, store, settings, topology, orders, records)
    finally:
        stopping.set()
        if supervisor is not None:
            supervisor.cancel()
            with suppress(asyncio.CancelledError):
                await supervisor
        for daemon in daemons:
            await daemon.kill()
        await _delete_topology(topology)
        await drop()
    return result


async def _store_url(config: Config, workdir: Path, namespace: str) -> tuple[str, Any]:
    if config.store == "sqlite":
        async def nothing() -> None:
            return None

        return f"sqlite:///{workdir / 'chaos.db'}", nothing
    schema = f"{namespace}_store"

    async def drop() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    return f"{PG_URL}?schema={schema}", drop


def _topology(settings: Settings, sagas: Path) -> Topology:
    names = Names(settings.namespace)
    endpoints: list[Endpoint] = [
        CountedService(s, "", 0.0, None) for s in services_in(import_package("handlers"))
    ]
    endpoints.extend(saga_runtime(sagas).endpoints)
    return (bus_topology(names, endpoints, settings.queue_type) + exchanges(names)
            + Topology(queues=(QueueSpec(names.unroutable),)))


async def _delete_topology(topology: Topology) -> None:
    with suppress(Exception):
        await wait_for_port(BROKER_HOST, BROKER_PORT, within=60)
        transport = RabbitMQTransport(AMQP_URL, name="sagabus-chaos")
        await transport.connect()
        try:
            await transport.delete(topology)
        finally:
            await transport.close()


async def _quiesce(store: Store, topology: Topology, within: float) -> None:
    """Final sagas may still have messages on their way (a compensation without `until`,
    a notification, a retry waiting in its tier): wait until no queue but the dead-letter
    ones holds anything and the outbox is empty, seen twice in a row."""
    deadline = time.monotonic() + within
    quiet = 0
    async with DeadLetterQueues(AMQP_URL) as box:
        while quiet < 2:
            busy = [q.name for q in topology.queues
                    if not q.name.endswith(".dlq") and not _is_dlq_record(q.name)
                    and await box.depth(q.name)]
            async with store.transaction() as tx:
                backlog = await tx.outbox_backlog()
            quiet = quiet + 1 if not busy and not backlog else 0
            if time.monotonic() > deadline:
                raise RuntimeError(f"not quiet within {within:g}s: {busy}, outbox {backlog}")
            await asyncio.sleep(0.5)


async def _until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {within:g}s: {what}")
        await asyncio.sleep(0.1)


def _create_order(order_id: str, path: Path_, quantity: int) -> m.CreateOrder:
    item = m.OrderItem(sku=path.sku, quantity=quantity, unit_price=path.amount)
    return m.CreateOrder(order_id=order_id, customer_id="chaos", items=[item],
                         amount=path.amount)


async def _place(settings: Settings, orders: list[tuple[str, Path_, int]], over: float) -> None:
    """Places the orders evenly over `over` seconds; a placement that fails (broker down)
    is tried again: CreateOrder is idempotent per order id."""
    pause = over / max(len(orders), 1)
    pending = list(orders)
    while pending:
        try:
            async with BusClient(settings) as client:
                while pending:
                    await client.send(_create_order(*pending[0]))
                    pending.pop(0)
                    await asyncio.sleep(pause)
        except (SagabusError, OSError, ConnectionError, RuntimeError):
            await asyncio.sleep(0.5)


async def _inject(
    config: Config, rng: random.Random, daemons: list[Daemon], result: Result
) -> None:
    """Kills daemons and restarts the broker at seeded moments while orders are placed."""
    moments = sorted(
        [(rng.uniform(0.05, 0.95) * config.placing, SIGKILL) for _ in range(config.kills)]
        + [(rng.uniform(0.05, 0.95) * config.placing, BROKER)
           for _ in range(config.broker_restarts)]
    )
    begun = time.monotonic()
    for at, kind in moments:
        await asyncio.sleep(max(0.0, begun + at - time.monotonic()))
        if kind == SIGKILL:
            victim = daemons[rng.randrange(len(daemons))]
            if not victim.alive:
                await _until(lambda v=victim: v.alive, 30, "a daemon to kill")
            await victim.kill()
        else:
            async with broker_down():
                await asyncio.sleep(rng.uniform(1.0, 4.0))
        result.faults[kind] += 1


async def _finish(store: Store, settings: Settings, orders: list[tuple[str, Path_, int]],
                  within: float) -> dict[str, SagaRecord]:
    """Waits until every saga left `running` (deciding reviews on the way)."""
    decisions = {oid: p.review for oid, p, _ in orders if p.review}
    decided: set[str] = set()
    deadline = time.monotonic() + within
    records: dict[str, SagaRecord] = {}
    while time.monotonic() < deadline:
        records = await _instances(store)
        waiting = [oid for oid, r in records.items() if r.state == "manual_review"
                   and r.status == "running" and oid in decisions and oid not in decided]
        if waiting:
            with suppress(SagabusError, OSError, ConnectionError):
                async with BusClient(settings) as client:
                    for oid in waiting:
                        if decisions[oid] == "approve":
                            await client.publish(m.OrderReviewApproved(order_id=oid))
                        else:
                            await client.publish(m.OrderReviewRejected(
                                order_id=oid, reason="chaos says no"))
                        decided.add(oid)
        if len(records) == len(orders) and all(r.status != "running" for r in records.values()):
            break
        await asyncio.sleep(1.0)
    return records


async def _instances(store: Store) -> dict[str, SagaRecord]:
    async with store.transaction() as tx:
        return {r.correlation: r for r in await tx.saga_list(saga=SAGA, limit=1_000_000)}


# -- the invariants ---------------------------------------------------------------------------
async def _check(result: Result, store: Store, settings: Settings, topology: Topology,
                 orders: list[tuple[str, Path_, int]], records: dict[str, SagaRecord]) -> None:
    v = result.violations
    async with store.transaction() as tx:
        charges = dict(await tx.state_list(CHARGES))
        refunds = dict(await tx.state_list(REFUNDS))
        stock = dict(await tx.state_list(STOCK))
        reservations = dict(await tx.state_list(RESERVATIONS))
        told = dict(await tx.state_list(SENT))
        runs = await tx.state_list(RUNS)
        backlog = await tx.outbox_backlog()
        histories = {oid: await tx.history(r.id) for oid, r in records.items()}

    for oid, path, _ in orders:
        record = records.get(oid)
        if record is None or record.status == "running":
            result.lost += 1
            v.append(f"{oid}: not final ({'never started' if record is None else record.state})")
            continue
        result.outcomes[record.state if record.status != "parked" else "parked"] += 1
        if record.status == "parked":
            result.parked += 1
            if not record.reason:
                v.append(f"{oid}: parked without a reason")
            continue
        if record.state != path.outcome:
            result.off_path += 1
        charged, refunded = oid in charges, oid in refunds
        reservation = reservations.get(oid)
        if refunded and not charged:
            v.append(f"{oid}: refunded but never charged")
        if record.state == "completed":
            if not charged or refunded or reservation is None or reservation["released"]:
                v.append(f"{oid}: completed but charged={charged} refunded={refunded} "
                         f"reservation={reservation}")
        elif record.state == "cancelled":
            if charged and not refunded:
                v.append(f"{oid}: cancelled but its charge was not refunded")
            if reservation is not None and not reservation["released"]:
                v.append(f"{oid}: cancelled but its stock was not released")
        note = told.get(oid)
        expected_note = "completed" if record.state == "completed" else "cancelled"
        if note is None or note["kind"] != expected_note:
            v.append(f"{oid}: customer told {note and note['kind']}, saga {record.state}")
        steps = histories[oid]
        messages = Counter(s.message_id for s in steps if s.message_id)
        timers = Counter(s.input for s in steps if s.input.startswith("timer "))
        twice = [k for k, n in (messages + timers).items() if n > 1]
        if twice:
            v.append(f"{oid}: {twice[:3]} moved the instance more than once")
        if not steps or steps[-1].to_state != record.state:
            v.append(f"{oid}: history ends in {steps[-1].to_state if steps else None}, "
                     f"instance in {record.state}")

    duplicated = [key for key, doc in runs if doc["count"] > 1]
    result.duplicated = len(duplicated)
    v.extend(f"handler ran twice for {key}" for key in duplicated[:20])

    held: Counter[str] = Counter()
    for reservation in reservations.values():
        if not reservation["released"]:
            held.update({sku: int(q) for sku, q in reservation["items"].items()})
    taken = Counter({sku: int(level["initial"]) - int(level["available"])
                     for sku, level in stock.items()})
    if +taken != +held:
        v.append(f"stock not conserved: taken {dict(taken)}, held {dict(held)}")
    if backlog:
        v.append(f"{backlog} outbox rows never sent")
    await _check_queues(result, topology)


def _is_dlq_record(queue: str) -> bool:
    """The namespace's record of its dead-letter queues: it keeps its messages for good."""
    return queue.endswith(registry_queue(Names("")))


async def _check_queues(result: Result, topology: Topology) -> None:
    async with DeadLetterQueues(AMQP_URL) as box:
        for queue in topology.queues:
            depth = await box.depth(queue.name)
            if not depth or _is_dlq_record(queue.name):
                continue
            if not queue.name.endswith(".dlq"):
                result.violations.append(f"{depth} message(s) left in {queue.name}")
                continue
            result.dead_letters += depth
            letters = await box.browse(queue.name, limit=depth)
            reasonless = [d.id for d in letters if not d.message.headers.get(REASON)]
            if reasonless:
                result.violations.append(f"dead letters without a reason: {reasonless[:5]}")


# -- command line -------------------------------------------------------------------------------
OPTIONS: dict[str, dict[str, Any]] = {
    "store": {"choices": ["postgres", "sqlite"]},
    "placing": {
        "default": None, "help": "seconds over which orders are placed (default: sagas/16)",
    },
    "workdir": {"type": Path},
}
"""What an option of a `Config` field takes beyond `--field-name VALUE` of the field's
type and default."""


def _arguments(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    types = get_type_hints(Config)
    for option in fields(Config):
        parser.add_argument(f"--{option.name.replace('_', '-')}", **{
            "type": types[option.name], "default": option.default, **OPTIONS.get(option.name, {}),
        })
    args = vars(parser.parse_args(argv))
    if args["placing"] is None:
        args["placing"] = max(10.0, args["sagas"] / 16)
    return Config(**args)


def _lines(result: Result) -> Iterator[str]:
    yield result.table()
    for violation in result.violations[:50]:
        yield f"  violated: {violation}"


def main(argv: list[str] | None = None) -> int:
    if shutil.which("rabbitmqctl") is None:
        print("chaos: rabbitmqctl is not installed", file=sys.stderr)
        return 2
    configure_logging("console", "error")
    result = asyncio.run(run(_arguments(argv)))
    for line in _lines(result):
        print(line)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
