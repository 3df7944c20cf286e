"""The console in a real browser: Debian's headless Chromium loads the pages from
`sagabus console`, runs the vendored mermaid and htmx, and its DOM is read back
(`--dump-dom`), or is driven through the DevTools protocol (`chromium_pipe`) to log in
and replay a dead letter. Skipped, saying why, where Chromium is not installed."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from chromium_pipe import Chromium
from console_support import SAGA, SAGAS, console_process, free_port
from live_services import AMQP_URL, rabbitmq_unreachable

import handlers.messages as m
from bus.deadletters.operations import DeadLetterQueues
from bus.deadletters.republishing import ORIGIN_QUEUE, REASON
from bus.store import namespace_url, open_store
from saga_dsl.testing import SagaHarness

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def orders(url: str) -> str:
    """Runs o-1 to completion and o-2 into a cancellation; returns o-2's instance id."""
    async with (
        open_store(url) as store,
        SagaHarness(services="handlers", sagas=SAGAS, store=store) as h,
    ):
        for order_id, sku in (("o-1", "BOOK-1"), ("o-2", "OOS-LAMP")):
            item = m.OrderItem(sku=sku, quantity=1, unit_price=30.0)
            await h.send(
                m.CreateOrder(order_id=order_id, customer_id="c", items=[item], amount=30.0)
            )
        await h.wait_idle()
        record = await h.saga(SAGA, "o-2")
    assert record is not None
    return record.id


@pytest.fixture
def console_url(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`sagabus console` over a store the order saga ran in: (base URL, o-2's id)."""
    if CHROMIUM is None:
        pytest.skip("optional tool missing: Chromium (Debian: apt-get install chromium)")
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    cancelled = asyncio.run(orders(url))
    port = free_port()
    command = ["console", "--sagas", str(SAGAS), "--port", str(port), "--no-dead-letters"]
    with console_process(command, port, {"SAGABUS_STORE": url}):
        yield f"http://127.0.0.1:{port}", cancelled


def rendered(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.decode()


def test_chromium_draws_the_graphs_with_counts_and_the_path(
    console_url: tuple[str, str], tmp_path: Path
) -> None:
    base, cancelled = console_url
    overview = rendered(f"{base}/", tmp_path / "profile")
    instance = rendered(f"{base}/instances/{cancelled}", tmp_path / "profile")
    # mermaid replaced the graph's text by an SVG drawing, counts on the final states
    assert re.search(r'<pre class="mermaid"[^>]*data-processed="true"', overview)
    assert "<svg" in overview and 'aria-roledescription="flowchart-v2"' in overview
    assert "● 1" in overview
    assert "flowchart LR" not in overview
    # the instance page: its history, and its graph with the current state marked
    assert "reserving_inventory → cancelled" in instance
    assert "<svg" in instance
    assert re.search(r'class="node[^"]*\bcurrent\b[^"]*"[^>]*id="[^"]*s_cancelled', instance)


TOKEN = "browser-console-token"


@pytest.fixture
def dead_letter(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A namespace whose payments DLQ holds one dead letter from `<ns>.payments`:
    (namespace, dlq)."""
    reason = asyncio.run(rabbitmq_unreachable())
    if reason is not None:
        pytest.skip(reason)
    namespace = f"cb{uuid.uuid4().hex[:8]}"
    origin, dlq = f"{namespace}.payments", f"{namespace}.payments.dlq"

    async def declare() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for name in (origin, dlq):
                await channel.declare_queue(name, durable=False)
            letter = aio_pika.Message(
                b'{"order_id": "o-9", "amount": 5.0}', message_id="m-browser",
                type="ProcessPayment",
                headers={ORIGIN_QUEUE: origin, REASON: "failed 3 attempt(s): GatewayDown"},
            )  # fmt: skip
            await channel.default_exchange.publish(letter, routing_key=dlq)

    async def delete() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for name in (origin, dlq):
                await channel.queue_delete(name)

    asyncio.run(declare())
    try:
        yield namespace, dlq
    finally:
        asyncio.run(delete())


async def depths(*queues: str) -> list[int | None]:
    async with DeadLetterQueues(AMQP_URL) as box:
        return [await box.depth(q) for q in queues]


def test_chromium_logs_in_and_a_replay_from_the_queue_page_empties_the_dlq(
    dead_letter: tuple[str, str], tmp_path: Path
) -> None:
    if CHROMIUM is None:
        pytest.skip("optional tool missing: Chromium (Debian: apt-get install chromium)")
    namespace, dlq = dead_letter
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    asyncio.run(orders(namespace_url(url, namespace)))  # where the console looks
    port = free_port()
    env = {"SAGABUS_STORE": url, "SAGABUS_AMQP_URL": AMQP_URL,
           "SAGABUS_NAMESPACE": namespace, "SAGABUS_CONSOLE_TOKEN": TOKEN}  # fmt: skip
    command = ["console", "--sagas", str(SAGAS), "--handlers", "handlers", "--port", str(port)]
    with console_process(command, port, env):
        base = f"http://127.0.0.1:{port}"
        browser = Chromium(CHROMIUM, tmp_path / "profile")
        try:
            browser.open(f"{base}/login")
            browser.evaluate(
                f"document.querySelector('input[name=token]').value = {json.dumps(TOKEN)};"
                "document.querySelector('form[action=\"/login\"]').requestSubmit()"
            )
            browser.wait_for(f"location.href === {json.dumps(base + '/')}")
            browser.open(f"{base}/dead-letters")
            assert "GatewayDown" in browser.evaluate("document.body.innerText")
            browser.evaluate("document.querySelector('button[name=all]').click()")
            shown = browser.wait_for(
                "document.body.innerText.includes('replayed from') && document.body.innerText"
            )
            assert f"1 dead letter(s) replayed from {dlq}" in shown
            assert TOKEN not in browser.evaluate("document.documentElement.outerHTML")
            assert asyncio.run(depths(dlq, f"{namespace}.payments")) == [0, 1]
        finally:
            browser.close()
