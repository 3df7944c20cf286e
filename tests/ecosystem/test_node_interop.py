"""The wire format holds for a foreign participant: a Node.js process on the stock
amqplib client (tests/ecosystem/node, installed from the npm registry with `npm ci`)
drives the order saga from outside, and serves as its payments service.

Skipped, saying why, where node or npm is missing or the install cannot be done."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.broker import TestBroker as Broker
from support.buses import BusFactory

import handlers  # noqa: F401  (registers the order contracts)
from bus.daemon import import_package, services_in
from bus.settings import Settings
from bus.store import Store
from bus.wire.client import BusClient
from bus.wire.topology import Binding, QueueSpec, Topology
from handlers.messages import CreateOrder, OrderCancelled, OrderCompleted, OrderItem
from saga_dsl.engine.wiring import saga_runtime

pytestmark = pytest.mark.integration

NODE_DIR = Path(__file__).resolve().parent / "node"
ROOT = NODE_DIR.parents[2]


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with amqplib installed beside the scripts."""
    binary, npm = shutil.which("node"), shutil.which("npm")
    if binary is None or npm is None:
        pytest.skip("node and npm are needed for the interop tests (apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "amqplib").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
            text=True, timeout=300, check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"npm ci could not install amqplib: {done.stderr.strip()[-300:]}")
    return binary


def order(amount: float = 120.0) -> dict[str, Any]:
    return {
        "order_id": f"node-{uuid.uuid4().hex[:8]}",
        "customer_id": "c-node",
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": amount / 2}],
        "amount": amount,
    }


async def serve_orders(
    make_bus: BusFactory, *, without: frozenset[str] = frozenset()
) -> None:
    services = [s for s in services_in(import_package("handlers")) if s.name not in without]
    runtime = saga_runtime(ROOT / "sagas")
    await make_bus([*services, *runtime.endpoints], background=[runtime.scheduler])


async def test_a_node_client_sends_create_order_and_gets_the_saga_s_final_event(
    node: str, make_bus: BusFactory, settings: Settings
) -> None:
    await serve_orders(make_bus)
    placed = order()
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "send_and_await.js"), settings.amqp_url, settings.namespace,
        json.dumps(placed), "60", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode()
    result = json.loads(out)
    final = result["final"]
    assert final["type"] == "OrderCompleted"
    assert final["payload"] == {"order_id": placed["order_id"]}
    assert final["headers"]["kind"] == "event"
    assert final["headers"]["version"] == 1
    assert final["headers"]["causation_id"]


async def test_a_node_payments_service_takes_part_in_the_order_saga(
    node: str, make_bus: BusFactory, settings: Settings, store: Store, broker: Broker
) -> None:
    queue = f"{settings.namespace}.payments"
    broker.track(Topology(queues=(QueueSpec(queue, bindings=(
        Binding(broker.names.commands, "ProcessPayment"),
    )),)))
    service = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "payments_service.js"), settings.amqp_url, settings.namespace,
        queue, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert service.stdout is not None
        ready = await asyncio.wait_for(service.stdout.readline(), 30)
        assert ready == b"ready\n"
        await serve_orders(make_bus, without=frozenset({"payments"}))
        placed = order()
        async with BusClient(settings) as client:
            final = await client.request(
                CreateOrder(
                    order_id=placed["order_id"], customer_id=placed["customer_id"],
                    items=[OrderItem(**i) for i in placed["items"]], amount=placed["amount"],
                ),
                reply=[OrderCompleted, OrderCancelled],
                where={"order_id": placed["order_id"]},
                timeout=60,
            )
        assert final.type == "OrderCompleted"
        handled = await asyncio.wait_for(service.stdout.readline(), 10)
        assert handled.startswith(b"handled ProcessPayment ")
        async with store.transaction() as tx:
            instance = await tx.saga_find("order_processing", placed["order_id"])
        assert instance is not None
        assert instance.data["payment_id"] == f"node-{placed['order_id']}"
    finally:
        if service.returncode is None:
            service.terminate()
        await asyncio.wait_for(service.wait(), 30)
