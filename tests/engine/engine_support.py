"""What the saga engine tests share: the order paths, placing orders, reading outcomes
and side effects, a transport that delivers everything twice, and daemon subprocesses.

The order saga under test is the real one (`sagas/order_processing.yaml`), copied with
shorter waits (`order_saga`), so a silent shipper is given up on in seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engine_contracts  # noqa: F401  (the test sagas' contracts must be registered)
import pytest
import structlog
from live_services import AMQP_URL, PG_URL, postgres_unreachable, rabbitmq_unreachable  # noqa: F401  (re-exported)
from support.daemons import daemon_env
from support.sagas import ORDER_SAGA, read_saga, rewrite_saga
from support.transports import ForwardingTransport

import handlers.messages as m
from bus.daemon import import_package, services_in
from bus.settings import Settings
from bus.store import SagaRecord, Store
from bus.store.base import HistoryRecord, Transaction
from bus.unitofwork.endpoint import Endpoint, HandlerContext
from bus.unitofwork.runtime import Bus, bus_topology
from bus.wire.client import BusClient
from bus.wire.contracts import Message
from bus.wire.envelope import Envelope
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names, QueueSpec, Topology, exchanges
from bus.wire.transport import Delivery, Outcome, Publication, Subscription, Transport
from handlers.inventory import RESERVATIONS, STOCK
from handlers.notifications import SENT
from handlers.payments import CHARGES, REFUNDS
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.wiring import SagaRuntime, saga_runtime

Eventually = Callable[..., Awaitable[Any]]
"""The type of the `eventually` fixture (tests/conftest.py)."""

HERE = Path(__file__).parent
REPO = HERE.parent.parent
SAGA = "order_processing"


# -- the saga under test ------------------------------------------------------------------
@dataclass(frozen=True)
class Waits:
    """The order saga's waits for a test. Only the silent shipper is meant to be waited
    on: payment and stock are resent after `resend` (which also paces the wait for a
    refund's confirmation) and given up on after `give_up`, both long enough that a slow
    answer on a busy machine never races them; review decisions come within `give_up`."""

    shipping_retry: str = "1s"
    shipping_timeout: str = "3s"
    resend: str = "5s"
    give_up: str = "60s"


BUSY = Waits(shipping_retry="3s", shipping_timeout="15s")
"""Waits for a 200-saga burst on two cores: a shipper that answers is never given up on,
even across a daemon restart."""


def order_saga(directory: Path, waits: Waits = Waits()) -> Path:
    """Writes the real order saga into `directory` with `waits`; returns the directory."""

    def change(saga: dict[str, Any]) -> None:
        states = saga["states"]
        for name in ("awaiting_payment", "reserving_inventory"):
            states[name]["retry"]["after"] = waits.resend
            states[name]["timeout"]["after"] = waits.give_up
        states["manual_review"]["timeout"]["after"] = waits.give_up
        states["shipping"]["retry"]["after"] = waits.shipping_retry
        states["shipping"]["timeout"]["after"] = waits.shipping_timeout

    return rewrite_saga(directory, change)


SHIPPING_ATTEMPTS = int(read_saga(ORDER_SAGA)["states"]["shipping"]["retry"]["attempts"])
"""How often the saga resends ShipOrder to a silent shipper before its timeout."""


# -- paths through the order saga ---------------------------------------------------------
@dataclass(frozen=True)
class Path_:
    """One way through the order saga: how to provoke it and what it must leave behind.

    review: the human decision for an amount that goes to manual review (None: no review).
    reserved: stock was reserved; released: and given back.
    """

    name: str
    amount: float
    sku: str
    outcome: str
    charged: bool
    refunded: bool
    reserved: bool
    released: bool
    review: str | None = None


COMPLETED = Path_("completed", 120.0, "BOOK-1", "completed", True, False, True, False)
DECLINED = Path_("payment declined", 60_000.0, "YACHT-1", "cancelled", False, False, False, False)
OUT_OF_STOCK = Path_("out of stock", 80.0, "OOS-LAMP", "cancelled", True, True, False, False)
SILENT_SHIPPER = Path_("silent shipper", 95.0, "SLOW-SOFA", "cancelled", True, True, True, True)
APPROVED = Path_("review approved", 20_000.0, "PIANO-1", "completed", True, False, True, False,
                 review="approve")
REJECTED = Path_("review rejected", 30_000.0, "HARP-1", "cancelled", True, True, False, False,
                 review="reject")
PATHS = (COMPLETED, DECLINED, OUT_OF_STOCK, SILENT_SHIPPER, APPROVED, REJECTED)


@dataclass(frozen=True)
class Order:
    order_id: str
    path: Path_
    quantity: int = 1


def plan(count: int, prefix: str = "order", paths: Sequence[Path_] = PATHS) -> list[Order]:
    """`count` orders spread over `paths`, quantities 1-3 so stock sums mean something."""
    return [
        Order(f"{prefix}-{i:04d}", paths[i % len(paths)], quantity=1 + i % 3)
        for i in range(count)
    ]


def create_order(order: Order) -> m.CreateOrder:
    item = m.OrderItem(sku=order.path.sku, quantity=order.quantity, unit_price=order.path.amount)
    return m.CreateOrder(
        order_id=order.order_id, customer_id="customer-1", items=[item], amount=order.path.amount
    )


async def place(settings: Settings, orders: Iterable[Order], **client: Any) -> None:
    async with BusClient(settings, **client) as bus_client:
        await asyncio.gather(*(bus_client.send(create_order(o)) for o in orders))


# -- reading outcomes ---------------------------------------------------------------------
async def instances(store: Store) -> dict[str, SagaRecord]:
    """The order saga's instances by order id."""
    async with store.transaction() as tx:
        records = await tx.saga_list(saga=SAGA, limit=100_000)
    return {r.correlation: r for r in records}


async def history(store: Store, record: SagaRecord) -> list[HistoryRecord]:
    async with store.transaction() as tx:
        return await tx.history(record.id)


class Reviewer:
    """Plays the human reviewer: decides every order waiting in `manual_review` once."""

    def __init__(self, client: Callable[[], BusClient], orders: Iterable[Order]) -> None:
        self.client = client
        self.decisions = {o.order_id: o.path.review for o in orders if o.path.review}
        self.decided: set[str] = set()

    async def decide(self, records: Mapping[str, SagaRecord]) -> None:
        waiting = [
            order_id for order_id, record in records.items()
            if record.state == "manual_review" and record.status == "running"
            and order_id in self.decisions and order_id not in self.decided
        ]
        if not waiting:
            return
        async with self.client() as client:
            for order_id in waiting:
                if self.decisions[order_id] == "approve":
                    await client.publish(m.OrderReviewApproved(order_id=order_id))
                else:
                    await client.publish(
                        m.OrderReviewRejected(order_id=order_id, reason="too good to be true")
                    )
                self.decided.add(order_id)


async def all_finished(
    store: Store,
    settings: Settings,
    orders: Sequence[Order],
    within: float,
    *,
    watch: asyncio.subprocess.Process | None = None,
    client: Callable[[], BusClient] | None = None,
) -> dict[str, SagaRecord]:
    """Waits until every order's saga left `running` (deciding reviews on the way, with
    `client()`, default a plain client); fails with the states still open after `within`
    seconds, or when `watch` (a daemon) exits meanwhile."""
    reviewer = Reviewer(client or (lambda: BusClient(settings)), orders)
    wanted = {o.order_id for o in orders}
    deadline = time.monotonic() + within
    while True:
        records = await instances(store)
        await reviewer.decide(records)
        open_ = [o for o in wanted if o not in records or records[o].status == "running"]
        if not open_:
            return records
        if watch is not None and watch.returncode is not None:
            pytest.fail(f"daemon exited ({watch.returncode}) with {len(open_)} sagas open")
        if time.monotonic() > deadline:
            where = Counter(records[o].state if o in records else "(not started)" for o in open_)
            pytest.fail(f"{len(open_)} of {len(wanted)} sagas still open after {within}s: "
                        f"{dict(where)}")
        await asyncio.sleep(0.2)


@dataclass
class SideEffects:
    """What the example services did, read from their state in the store."""

    charges: dict[str, dict[str, Any]]
    refunds: dict[str, dict[str, Any]]
    stock: dict[str, dict[str, Any]]
    reservations: dict[str, dict[str, Any]]
    notifications: dict[str, dict[str, Any]]

    def held(self) -> Counter[str]:
        """Units per SKU reserved and not released."""
        held: Counter[str] = Counter()
        for reservation in self.reservations.values():
            if not reservation["released"]:
                held.update({sku: int(q) for sku, q in reservation["items"].items()})
        return held

    def taken(self) -> Counter[str]:
        """Units per SKU missing from stock."""
        return Counter({
            sku: int(level["initial"]) - int(level["available"])
            for sku, level in self.stock.items()
        })


async def side_effects(store: Store) -> SideEffects:
    async with store.transaction() as tx:
        return SideEffects(*[
            dict(await tx.state_list(namespace))
            for namespace in (CHARGES, REFUNDS, STOCK, RESERVATIONS, SENT)
        ])


def assert_outcomes(
    orders: Sequence[Order], records: Mapping[str, SagaRecord], effects: SideEffects
) -> None:
    """Every order ended on its path, with exactly the side effects its path has (charges
    and refunds are keyed by order: one row is one charge), and stock adds up."""
    wrong = {
        o.order_id: f"{o.path.name}: {r.state}/{r.status} "
        f"{r.reason or r.data.get('reason') or ''}"
        for o in orders
        if (r := records[o.order_id]).state != o.path.outcome or r.status == "parked"
    }
    assert not wrong, f"{len(wrong)} sagas off their path: {dict(list(wrong.items())[:5])}"
    ids = {o.order_id for o in orders}
    assert {k for k in effects.charges if k in ids} == {o.order_id for o in orders
                                                         if o.path.charged}
    assert {k for k in effects.refunds if k in ids} == {o.order_id for o in orders
                                                         if o.path.refunded}
    for o in orders:
        if o.path.charged:
            assert effects.charges[o.order_id]["amount"] == o.path.amount
        reservation = effects.reservations.get(o.order_id)
        if not o.path.reserved:
            assert reservation is None, o
            continue
        assert reservation == {"items": {o.path.sku: o.quantity},
                               "released": o.path.released}, o
    assert effects.taken() == effects.held(), (
        f"stock does not add up: taken {effects.taken()}, held {effects.held()}"
    )
    expected_held: Counter[str] = Counter()
    for o in orders:
        if o.path.reserved and not o.path.released:
            expected_held[o.path.sku] += o.quantity
    assert +effects.held() == +expected_held


def assert_consistent(
    orders: Sequence[Order], records: Mapping[str, SagaRecord], effects: SideEffects
) -> None:
    """The guarantees that hold whatever the timing: every saga finished (none parked),
    a completed order is charged once and holds its stock, a cancelled one is refunded
    exactly when it was charged and holds no stock, and stock adds up. (Under load a
    shipper that answers late may be timed out like a silent one: that order is then
    cancelled and undone, which `assert_outcomes` would call off its path.)"""
    unfinished = {o.order_id: records[o.order_id].status for o in orders
                  if records[o.order_id].status not in ("completed", "failed")}
    assert not unfinished, f"sagas not finished: {unfinished}"
    for o in orders:
        record = records[o.order_id]
        reservation = effects.reservations.get(o.order_id)
        charged = o.order_id in effects.charges
        assert charged or not o.path.charged or record.state == "cancelled", o
        assert o.path.charged or not charged, f"{o.order_id} charged on {o.path.name}"
        if record.state == "completed":
            assert charged and o.order_id not in effects.refunds, o
            assert reservation == {"items": {o.path.sku: o.quantity}, "released": False}, o
        else:
            assert (o.order_id in effects.refunds) == charged, f"{o.order_id} refund"
            assert reservation is None or reservation["released"], o
        if not o.path.reserved:
            assert reservation is None, o
    assert effects.taken() == effects.held(), (
        f"stock does not add up: taken {effects.taken()}, held {effects.held()}"
    )


async def assert_each_input_once(store: Store, records: Mapping[str, SagaRecord]) -> None:
    """No message moved an instance twice and no timer fired twice (history rows are
    written in the transaction that consumed the input, so a second run would show)."""
    for record in records.values():
        steps = await history(store, record)
        messages = Counter(step.message_id for step in steps if step.message_id)
        twice = [message for message, n in messages.items() if n > 1]
        twice += [name for name, n in timer_firings(steps).items() if n > 1]
        assert not twice, f"{record.correlation}: {twice} moved the instance more than once"


def sends(steps: Sequence[HistoryRecord], command: str) -> int:
    """How many times the history says `command` was sent."""
    return sum(
        1 for step in steps for effect in step.effects
        if effect.get("effect") == "send" and effect.get("type") == command
    )


def timer_firings(steps: Sequence[HistoryRecord]) -> Counter[str]:
    return Counter(step.input for step in steps if step.input.startswith("timer "))


async def deliver(
    tx: Transaction, endpoint: SagaEndpoint, message: Message, log: Any = None
) -> list[Envelope]:
    """Runs `message` through a saga endpoint inside `tx`, as the pipeline does after
    its inbox check, without a broker; returns what the endpoint sends and publishes."""
    envelope = Envelope.of(message)
    ctx = HandlerContext(endpoint=endpoint.name, tx=tx, message=envelope, contract=message,
                         log=log or structlog.get_logger())
    await endpoint.handle(envelope, ctx)
    return ctx.outgoing


# -- the broker -----------------------------------------------------------------------------

def order_endpoints(sagas: Path) -> tuple[list[Endpoint], SagaRuntime]:
    """The example services and the saga runtime of `sagas` (what a daemon serves)."""
    runtime = saga_runtime(sagas)
    return served_with(runtime), runtime


def served_with(runtime: SagaRuntime, payments: Endpoint | None = None) -> list[Endpoint]:
    """The example services, `payments` in place of theirs when given, and `runtime`'s
    saga endpoints."""
    services: list[Endpoint] = list(services_in(import_package("handlers")))
    if payments is not None:
        services = [*(s for s in services if s.name != payments.name), payments]
    return [*services, *runtime.endpoints]


def topology_of(settings: Settings, endpoints: Sequence[Endpoint]) -> Topology:
    names = Names(settings.namespace)
    return (
        bus_topology(names, endpoints, settings.queue_type)
        + exchanges(names)
        + Topology(queues=(QueueSpec(names.unroutable),))
    )


async def dead_letters(settings: Settings, endpoints: Sequence[Endpoint]) -> dict[str, int]:
    """Messages waiting in each endpoint's DLQ (only the non-empty ones)."""
    names = Names(settings.namespace)
    transport = RabbitMQTransport(AMQP_URL, name="sagabus-tests")
    await transport.connect()
    try:
        depths = {}
        for endpoint in endpoints:
            dlq = names.dlq(names.queue(endpoint.name))
            depths[dlq] = await transport.queue_depth(dlq)
    finally:
        await transport.close()
    return {queue: depth for queue, depth in depths.items() if depth}


class DuplicatingTransport(ForwardingTransport):
    """Wraps a transport so that every publication is delivered twice: the same message
    (same message_id) published back to back, as a redelivering broker or a relay that
    crashed before marking its rows sent would."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.delivered: Counter[tuple[str, str | None]] = Counter()
        """(queue, message_id) -> deliveries consumed through this transport."""

    async def publish(self, publications: Sequence[Publication]) -> list[Outcome]:
        twice = [p for p in publications for _ in range(2)]
        outcomes = await self.inner.publish(twice)
        return [
            first if first is not Outcome.CONFIRMED else second
            for first, second in zip(outcomes[::2], outcomes[1::2], strict=True)
        ]

    async def consume(
        self, queue: str, prefetch: int, on_delivery: Callable[[Delivery], None]
    ) -> Subscription:
        def counted(delivery: Delivery) -> None:
            self.delivered[(queue, delivery.message.message_id)] += 1
            on_delivery(delivery)

        return await self.inner.consume(queue, prefetch, counted)


# -- daemons ----------------------------------------------------------------------------------
DAEMON = HERE / "saga_daemon.py"


def saga_daemon_env(settings: Settings, sagas: Path) -> dict[str, str]:
    return daemon_env(
        settings, REPO, HERE,
        SAGABUS_LOG_FORMAT="json", SAGABUS_LOG_LEVEL="info",
        SAGABUS_TEST_SAGAS=str(sagas), SAGABUS_TEST_IMPORTS="engine_contracts",
    )


class Daemon:
    """A daemon subprocess (`saga_daemon.py`) serving the example services and the
    sagas of a directory, its output in `log`."""

    def __init__(self, settings: Settings, sagas: Path, log: Path) -> None:
        self.settings = settings
        self.sagas = sagas
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 30) -> Daemon:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, str(DAEMON), env=saga_daemon_env(self.settings, self.sagas),
                stdout=out, stderr=out, cwd=str(REPO),
            )
        starts = self.log.read_bytes().count(b"bus started")
        deadline = time.monotonic() + within
        while self.log.read_bytes().count(b"bus started") == starts:
            if self.process.returncode is not None or time.monotonic() > deadline:
                pytest.fail(f"daemon did not start (exit {self.process.returncode}):\n"
                            f"{self.log.read_text()[-4000:]}")
            await asyncio.sleep(0.05)
        return self

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.process.wait(), 20) == -signal.SIGKILL

    async def stop(self, within: float = 30) -> int:
        """SIGTERM, then the exit code (killing it when it does not stop in time)."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()

    def ensure_dead(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if text in line]


@asynccontextmanager
async def serving(
    settings: Settings, store: Store, sagas: Path, *, transport: Transport | None = None
) -> AsyncIterator[Bus]:
    """An in-process daemon: the example services and the sagas of `sagas` with their
    timer scheduler, on `store`, until the block ends."""
    endpoints, runtime = order_endpoints(sagas)
    await runtime.pin(store)
    async with Bus(
        settings, store, endpoints, background=[runtime.scheduler], transport=transport
    ) as bus:
        yield bus
