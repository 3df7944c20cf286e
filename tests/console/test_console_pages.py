"""The console's pages over a real store: the order saga run through the harness, and
rows written with the store API. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from console_support import (
    HOSTILE,
    SAGA,
    SAGAS,
    SCRIPT,
    T0,
    console_client,
    order_machines,
    record,
    write,
)

import handlers.messages as m
from bus.store.base import HistoryRecord, Store, TimerRecord
from saga_dsl.testing import SagaHarness


async def run_two_orders(store: Store) -> None:
    """o-1 completes; o-2 finds no stock and is cancelled after a refund."""
    async with SagaHarness(services="handlers", sagas=SAGAS, store=store) as h:
        for order_id, sku in (("o-1", "BOOK-1"), ("o-2", "OOS-LAMP")):
            item = m.OrderItem(sku=sku, quantity=2, unit_price=10.0)
            await h.send(
                m.CreateOrder(order_id=order_id, customer_id="c-1", items=[item], amount=20.0)
            )
        await h.wait_idle()


async def instance_id(store: Store, correlation: str) -> str:
    async with store.transaction() as tx:
        found = await tx.saga_find(SAGA, correlation)
    assert found is not None
    return found.id


async def test_the_overview_counts_instances_on_the_saga_graph(store: Store) -> None:
    await run_two_orders(store)
    async with console_client(store, order_machines()) as client:
        page = await client.get("/")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert '<pre class="mermaid">flowchart LR' in text
    assert "completed (success)<br/>send CompleteOrder<br/>● 1" in text
    assert "cancelled (failure)<br/>send CancelOrder<br/>● 1" in text
    assert "class s_completed,s_cancelled occupied" in text or (
        "class s_cancelled,s_completed occupied" in text
    )
    row = re.search(r'saga=order_processing">(\d+)</a>', page.text)
    assert row is not None and row.group(1) == "2"
    assert 'href="/instances?saga=order_processing&amp;status=completed">1<' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


async def test_an_instance_page_shows_its_history_path_and_data(store: Store) -> None:
    await run_two_orders(store)
    cancelled = await instance_id(store, "o-2")
    async with console_client(store, order_machines()) as client:
        page = await client.get(f"/instances/{cancelled}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    moves = re.findall(r"<td>([a-z_()]+) → ([a-z_]+)</td>", text)
    assert moves[0] == ("(start)", "awaiting_payment")
    assert moves[-1] == ("reserving_inventory", "cancelled")
    assert "send RefundPayment" in text
    assert "finished: failure" in text
    assert "class s_cancelled current" in text
    assert re.search(r"linkStyle [\d,]+ stroke:#1d4ed8", text)
    assert '"order_id": "o-2"' in text
    assert "out of stock: OOS-LAMP" in text


async def test_the_instance_list_filters_and_pages_by_keyset(store: Store) -> None:
    await write(
        store,
        *(record(n) for n in range(7)),
        record(7, state="completed", status="completed"),
        record(8, status="parked", reason="payments refused twice"),
    )
    async with console_client(store, order_machines()) as client:
        seen: list[str] = []
        url: str | None = "/instances?saga=order_processing&status=running&limit=3"
        pages = 0
        while url is not None:
            page = await client.get(url)
            assert page.status_code == 200
            seen += re.findall(r'href="/instances/(inst-\d+)"', page.text)
            follow = re.search(r'<a rel="next" href="([^"]+)"', page.text)
            url = html.unescape(follow.group(1)) if follow else None
            pages += 1
            if url is not None:
                query = parse_qs(urlsplit(url).query)
                assert query["status"] == ["running"] and query["limit"] == ["3"]
        parked = await client.get("/instances?status=parked")
        by_correlation = await client.get("/instances?correlation=o-7")
    assert seen == [f"inst-{n:04d}" for n in range(6, -1, -1)]
    assert pages == 3
    assert re.findall(r'href="/instances/(inst-\d+)"', parked.text) == ["inst-0008"]
    assert "payments refused twice" in parked.text
    assert re.findall(r'href="/instances/(inst-\d+)"', by_correlation.text) == ["inst-0007"]


async def test_values_from_sagas_and_messages_are_escaped(store: Store) -> None:
    hostile = record(
        1,
        correlation=SCRIPT,
        status="parked",
        reason=HOSTILE,
        data={"note": SCRIPT, "field": HOSTILE},
    )
    step = HistoryRecord(
        instance_id=hostile.id,
        at=T0,
        input=SCRIPT,
        message_id="m",
        from_state=None,
        to_state="awaiting_payment",
        effects=[{"effect": "send", "type": HOSTILE}],
    )
    await write(store, hostile, history=[step])
    async with store.transaction() as tx:
        await tx.timer_arm(TimerRecord(hostile.id, SAGA, HOSTILE, T0))
    async with console_client(store, order_machines()) as client:
        pages = [
            await client.get(f"/instances/{hostile.id}"),
            await client.get("/instances"),
            await client.get("/instances", params={"correlation": SCRIPT}),
            await client.get("/"),
        ]
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
    assert html.escape(SCRIPT) in pages[0].text or "&lt;script&gt;" in pages[0].text
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0].text


async def test_unknown_instances_and_bad_queries_are_refused(store: Store) -> None:
    async with console_client(store, order_machines()) as client:
        missing = await client.get("/instances/nope")
        bad_status = await client.get("/instances?status=sleeping")
        bad_cursor = await client.get("/instances?after=bm90LWEtY3Vyc29y")
        bad_limit = await client.get("/instances?limit=100000")
    assert missing.status_code == 404 and "no saga instance has this id" in missing.text
    assert bad_status.status_code == 400 and "status must be one of" in bad_status.text
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.text
    assert bad_limit.status_code == 400


async def test_a_saga_without_its_file_is_listed_without_a_graph(store: Store) -> None:
    await write(store, record(1, saga="refunds"))
    async with console_client(store, []) as client:
        page = await client.get("/")
    assert page.status_code == 200
    assert "No saga file loaded for this saga" in page.text
    assert 'mermaid">' not in page.text


async def test_the_pages_load_their_scripts_from_the_console_itself(store: Store) -> None:
    async with console_client(store, order_machines()) as client:
        page = await client.get("/")
        sources = re.findall(r'<script src="([^"]+)"', page.text)
        assets = [await client.get(src) for src in sources]
        health = await client.get("/healthz")
    assert sources == ["/static/htmx.min.js", "/static/mermaid.min.js", "/static/console.js"]
    assert all(a.status_code == 200 and len(a.content) > 100 for a in assets)
    assert health.json() == {"status": "alive"}
    assert not re.search(r'(src|href)="(https?:)?//', page.text)


async def test_an_instance_links_its_event_stream_which_shows_as_of_a_version(
    store: Store,
) -> None:
    await run_two_orders(store)
    completed = await instance_id(store, "o-1")
    async with console_client(store, order_machines()) as client:
        page = await client.get(f"/instances/{completed}")
        whole = await client.get("/streams/order-o-1")
        first = await client.get("/streams/order-o-1", params={"as_of": "1"})
        bad = await client.get("/streams/order-o-1", params={"as_of": "yesterday"})
        missing = await client.get("/streams/order-nope")
    assert 'href="/streams/order-o-1"' in page.text
    assert whole.status_code == 200 and first.status_code == 200
    versions = re.findall(r"<tr>\s*<td>(\d+)</td>", whole.text)
    assert len(versions) >= 2 and versions == [str(v) for v in range(1, len(versions) + 1)]
    assert re.findall(r"<tr>\s*<td>(\d+)</td>", first.text) == ["1"]
    assert f"as of version <strong>1</strong> of {len(versions)}" in first.text
    assert "State of OrderAggregate at version 1" in first.text
    assert bad.status_code == 400 and missing.status_code == 404


async def test_a_running_instance_refreshes_itself_and_a_finished_one_does_not(
    store: Store,
) -> None:
    await write(store, record(1), record(2, state="completed", status="completed"))
    async with console_client(store, order_machines()) as client:
        running = await client.get("/instances/inst-0001")
        finished = await client.get("/instances/inst-0002")
    assert 'hx-get="/instances/inst-0001" hx-trigger="every 5s"' in running.text
    assert "hx-trigger" not in finished.text.split("<main>", 1)[1]
