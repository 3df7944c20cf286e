"""Replaying and purging dead letters from the console's queue page, on the real
RabbitMQ: a bus whose payment handler fails until the test repairs it dead-letters a
command; a replay from the page sends it back, the handler takes it and the DLQ is
empty. Purging empties a queue; both are refused without the login and the CSRF value."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from console_support import order_machines
from live_services import AMQP_URL
from support.broker import TestBroker
from support.buses import bus_factory
from support.fixtures import bus_settings

import handlers.messages as m
from bus import BusClient, HandlerContext, RetryPolicy, Service
from bus.deadletters.operations import DeadLetterQueues
from bus.settings import Settings
from bus.store import Store, open_store
from bus.unitofwork.runtime import Bus
from bus.wire.topology import Names
from sagabus.console import create_app
from sagabus.console.dead_letters import BrokerDeadLetters

pytestmark = pytest.mark.integration

TOKEN = "replay-token"
repaired: set[str] = set()
"""Namespaces whose payment gateway works (the handler fails for the others)."""
handled: list[tuple[str, str]] = []
"""(namespace, order id) of each payment the handler took."""

payments = Service("payments", retry=RetryPolicy(attempts=1))


@payments.handles(m.ProcessPayment)
async def pay(cmd: m.ProcessPayment, ctx: HandlerContext) -> None:
    namespace = cmd.order_id.split("/")[0]
    if namespace not in repaired:
        raise RuntimeError("card declined" if cmd.order_id.endswith("o-2") else "gateway down")
    handled.append((namespace, cmd.order_id))


@pytest.fixture
def names() -> Names:
    return Names(f"c{uuid.uuid4().hex[:10]}")


@pytest.fixture
def settings(names: Names, tmp_path: Path) -> Settings:
    return bus_settings(names.namespace, f"sqlite:///{tmp_path / 'bus.db'}")


@pytest.fixture
async def bus_store(settings: Settings) -> AsyncIterator[Store]:
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
async def bus(broker: TestBroker, settings: Settings, bus_store: Store) -> AsyncIterator[Bus]:
    async with bus_factory(broker, settings, bus_store) as make:
        yield await make([payments])


async def depth(queue: str) -> int | None:
    async with DeadLetterQueues(AMQP_URL) as box:
        return await box.depth(queue)


async def dead_lettered(settings: Settings, names: Names, eventually, count: int) -> str:  # type: ignore[no-untyped-def]
    """Sends `count` payments that fail; returns the DLQ once they are all in it."""
    dlq = names.dlq(names.queue("payments"))
    async with BusClient(settings) as client:
        for n in range(count):
            await client.send(m.ProcessPayment(order_id=f"{names.namespace}/o-{n}", amount=5.0))

    async def arrived() -> bool:
        return await depth(dlq) == count

    await eventually(arrived, timeout=30, what=f"{count} payment(s) dead-lettered")
    return dlq


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, page
    return found.group(1)


async def console(bus_store: Store, dlq: str) -> httpx.AsyncClient:
    source = BrokerDeadLetters(AMQP_URL, [dlq])
    app = create_app(bus_store, order_machines(), dead_letters=source, token=TOKEN)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


async def test_a_dead_letter_replayed_from_the_page_is_handled_and_leaves_the_dlq(
    bus: Bus, settings: Settings, bus_store: Store, names: Names, eventually
) -> None:
    dlq = await dead_lettered(settings, names, eventually, 1)
    async with await console(bus_store, dlq) as client:
        refused = await client.post("/dead-letters/replay", data={"queue": dlq})
        await client.post("/login", data={"token": TOKEN})
        page = await client.get("/dead-letters")
        csrf = csrf_of(page.text)
        forged = await client.post("/dead-letters/replay", data={"queue": dlq, "csrf": "0" * 64})
        [letter] = re.findall(r'name="message_id" value="([^"]+)"', page.text)
        repaired.add(names.namespace)
        answer = await client.post(
            "/dead-letters/replay", data={"queue": dlq, "message_id": letter, "csrf": csrf}
        )
    assert refused.status_code == 403 and "log in" in refused.text
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert "Replay all 1" in page.text and "Replay these" in page.text
    assert answer.status_code == 200 and f"1 dead letter(s) replayed from {dlq}" in answer.text
    assert await depth(dlq) == 0

    async def taken() -> bool:
        return (names.namespace, f"{names.namespace}/o-0") in handled

    await eventually(taken, timeout=30, what="the replayed payment handled")


async def test_a_group_is_replayed_by_reason_and_a_queue_purged(
    bus: Bus, settings: Settings, bus_store: Store, names: Names, eventually
) -> None:
    dlq = await dead_lettered(settings, names, eventually, 3)
    async with await console(bus_store, dlq) as client:
        await client.post("/login", data={"token": TOKEN})
        page = await client.get("/dead-letters")
        csrf = csrf_of(page.text)
        reasons = re.findall(r'name="reason" value="([^"]+)"', page.text)
        [gateway] = [html.unescape(r) for r in reasons if "gateway down" in r]
        other = await client.post(
            "/dead-letters/purge", data={"queue": f"{names.namespace}.other", "csrf": csrf}
        )
        repaired.add(names.namespace)
        group = await client.post(
            "/dead-letters/replay", data={"queue": dlq, "reason": gateway, "csrf": csrf}
        )
        left = await depth(dlq)
        purged = await client.post("/dead-letters/purge", data={"queue": dlq, "csrf": csrf})
    assert len(reasons) == 2
    assert other.status_code == 403 and "not one of the dead-letter queues" in other.text
    assert group.status_code == 200 and "2 dead letter(s) replayed" in group.text
    assert left == 1
    assert purged.status_code == 200 and f"1 message(s) deleted from {dlq}" in purged.text
    assert await depth(dlq) == 0

    async def taken() -> bool:
        mine = {order for namespace, order in handled if namespace == names.namespace}
        return mine == {f"{names.namespace}/o-0", f"{names.namespace}/o-1"}

    await eventually(taken, timeout=30, what="the two replayed payments handled")
