"""`sagabus demo`: the order saga end to end on RabbitMQ, in one process.

Starts the daemon in-process (the example services of `handlers` and the sagas of
`./sagas`), places N orders spread over every path of the order saga, plays the human
reviewer for big orders, shows a progress bar, and ends with a table of outcomes,
side effects and throughput. Exit 0 when every order ended as its path says.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bus.daemon import import_package, services_in
from bus.errors import SagabusError
from bus.observability.logging import configure_logging
from bus.settings import Settings
from bus.store import SagaRecord, Store, open_store
from bus.unitofwork.runtime import Bus
from bus.wire.client import BusClient
from bus.wire.envelope import utcnow
from bus.wire.rabbitmq import RabbitMQTransport
from saga_dsl.engine.wiring import saga_runtime
from sagabus.cli.app import app

DEMO_NAMESPACE = "sagabus-demo"
DEMO_STORE = "sqlite:///./sagabus-demo.db"


@dataclass(frozen=True)
class Path_:
    """One path through the order saga: how to provoke it and how it must end."""

    name: str
    amount: float
    sku: str
    outcome: str
    charged: bool
    refunded: bool
    waits: bool = False
    """True when the path waits out a timer on purpose (its time is not work)."""


PATHS: tuple[Path_, ...] = (
    *[Path_("completed", 120.0, "BOOK-1", "completed", True, False)] * 6,
    Path_("payment declined", 60_000.0, "YACHT-1", "cancelled", False, False),
    Path_("out of stock, refunded", 80.0, "OOS-LAMP", "cancelled", True, True),
    Path_(
        "shipper silent: retries, timeout, refund", 95.0, "SLOW-SOFA", "cancelled", True, True,
        waits=True,
    ),
    Path_("manual review, approved", 20_000.0, "PIANO-1", "completed", True, False),
)


NUMERIC = frozenset({"orders", "p50 s", "max s"})


class DemoFailed(SagabusError):
    """The demo did not end as every path says it must."""


@app.command()
def demo(
    orders: Annotated[int, typer.Option("--orders", min=1, help="Orders to place.")] = 100,
    sagas: Annotated[Path, typer.Option("--sagas", help="Saga directory.")] = Path("sagas"),
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait, at most.")] = 300,
    amqp_url: Annotated[str | None, typer.Option("--amqp-url")] = None,
) -> None:
    """Run the order saga end to end on RabbitMQ with the example services."""
    settings = Settings.load(amqp_url=amqp_url, namespace=DEMO_NAMESPACE, store=DEMO_STORE)
    configure_logging("console", "warning")
    _fresh_sqlite(settings.store)
    asyncio.run(_demo(settings, orders, sagas, timeout))


def _fresh_sqlite(url: str) -> None:
    path = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _demo(settings: Settings, count: int, sagas: Path, limit: float) -> None:
    import handlers.messages as m

    console = Console()
    services = services_in(import_package("handlers"))
    runtime = saga_runtime(sagas)
    plan = [PATHS[i % len(PATHS)] for i in range(count)]
    async with open_store(settings) as store:
        await runtime.pin(store)
        bus = Bus(
            settings, store, [*services, *runtime.endpoints], background=[runtime.scheduler]
        )
        await _clear_topology(settings, bus)
        async with bus, BusClient(settings) as client:
            started = time.monotonic()
            started_at = utcnow()
            for i, path in enumerate(plan):
                item = m.OrderItem(sku=path.sku, quantity=1, unit_price=path.amount)
                await client.send(
                    m.CreateOrder(
                        order_id=f"order-{i:05d}", customer_id=f"customer-{i % 7}",
                        items=[item], amount=path.amount,
                    )
                )
            finished = await _watch(store, client, count, limit, console)
            elapsed = time.monotonic() - started
            effects = await _effects(store)
    _report(console, plan, finished, elapsed, effects)
    busy = [
        r for i, r in enumerate(_in_plan_order(plan, finished)) if not plan[i].waits
    ]
    last = max((r.updated_at for r in busy if r.updated_at), default=started_at)
    span = max((last - started_at).total_seconds(), 1e-9)
    console.print(
        f"without the paths that wait out a timer: {len(busy)} sagas in {span:.2f}s, "
        f"{len(busy) / span:.1f} sagas/s"
    )


async def _clear_topology(settings: Settings, bus: Bus) -> None:
    """A previous demo run may have left messages: start from empty queues."""
    transport = RabbitMQTransport(settings.amqp_url)
    await transport.connect()
    try:
        await transport.delete(bus.topology())
    finally:
        await transport.close()


async def _watch(
    store: Store, client: BusClient, count: int, limit: float, console: Console
) -> list[SagaRecord]:
    import handlers.messages as m

    reviewed: set[str] = set()
    deadline = time.monotonic() + limit
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:
        task = progress.add_task("orders finished", total=count)
        while True:
            async with store.transaction() as tx:
                records = await tx.saga_list(saga="order_processing", limit=count)
            for record in records:
                if record.state == "manual_review" and record.correlation not in reviewed:
                    reviewed.add(record.correlation)
                    await client.publish(m.OrderReviewApproved(order_id=record.correlation))
            done = [r for r in records if r.status != "running"]
            progress.update(task, completed=len(done))
            if len(done) >= count:
                return done
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"only {len(done)} of {count} orders finished within {limit:g}s"
                )
            await asyncio.sleep(0.2)


async def _effects(store: Store) -> dict[str, int]:
    async with store.transaction() as tx:
        stock = await tx.state_list("inventory.stock")
        reservations = await tx.state_list("inventory.reservations")
        held = sum(
            sum(r["items"].values()) for _, r in reservations if not r["released"]
        )
        return {
            "charges": len(await tx.state_list("payments.charges")),
            "refunds": len(await tx.state_list("payments.refunds")),
            "stock_conserved": int(
                sum(s["initial"] - s["available"] for _, s in stock) == held
            ),
        }


def _report(
    console: Console,
    plan: list[Path_],
    finished: list[SagaRecord],
    elapsed: float,
    effects: dict[str, int],
) -> None:
    by_order = {r.correlation: r for r in finished}
    table = Table(title="order saga outcomes")
    for column in ("path", "orders", "expected", "ended", "p50 s", "max s"):
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    wrong = 0
    latencies: list[float] = []
    for name in dict.fromkeys(p.name for p in plan):
        records = [by_order[f"order-{i:05d}"] for i, p in enumerate(plan) if p.name == name]
        expected = next(p.outcome for p in plan if p.name == name)
        ended = Counter(r.state if r.status != "parked" else "parked" for r in records)
        wrong += sum(n for state, n in ended.items() if state != expected)
        took = [_took(r) for r in records]
        latencies.extend(took)
        table.add_row(
            name, str(len(records)), expected,
            ", ".join(f"{s} {n}" for s, n in sorted(ended.items())),
            f"{statistics.median(took):.3f}", f"{max(took):.3f}",
        )
    console.print(table)
    want_charges = sum(p.charged for p in plan)
    want_refunds = sum(p.refunded for p in plan)
    quantiles = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else latencies * 99
    )
    console.print(
        f"{len(plan)} sagas in {elapsed:.2f}s: {len(plan) / elapsed:.1f} sagas/s; "
        f"OrderCreated to final state p50 {quantiles[49]:.3f}s, "
        f"p95 {quantiles[94]:.3f}s, p99 {quantiles[98]:.3f}s"
    )
    console.print(
        f"payments charged {effects['charges']} (expected {want_charges}), "
        f"refunded {effects['refunds']} (expected {want_refunds}), "
        f"stock conserved: {'yes' if effects['stock_conserved'] else 'NO'}"
    )
    if (
        wrong
        or effects["charges"] != want_charges
        or effects["refunds"] != want_refunds
        or not effects["stock_conserved"]
    ):
        raise DemoFailed(f"{wrong} orders ended off their path, or side effects do not add up")


def _in_plan_order(plan: list[Path_], finished: list[SagaRecord]) -> list[SagaRecord]:
    by_order = {r.correlation: r for r in finished}
    return [by_order[f"order-{i:05d}"] for i in range(len(plan))]


def _took(record: SagaRecord) -> float:
    if record.created_at is None or record.updated_at is None:
        return 0.0
    return (record.updated_at - record.created_at).total_seconds()
