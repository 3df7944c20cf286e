"""The console in a real browser: Debian's headless Chromium loads the pages from
`sagabus console`, runs the vendored mermaid and htmx, and its DOM is read back
(`--dump-dom`). Skipped, saying why, where Chromium is not installed."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import SAGA, SAGAS
from test_console_serving import ROOT, free_port, wait_until_serving

import handlers.messages as m
from bus.store import open_store
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
    process = subprocess.Popen(
        [sys.executable, "-m", "sagabus.cli", "console", "--sagas", str(SAGAS),
         "--port", str(port), "--no-dead-letters"],
        cwd=ROOT, env={**os.environ, "SAGABUS_STORE": url},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until_serving(process, port, within=30)
        yield f"http://127.0.0.1:{port}", cancelled
    finally:
        process.terminate()
        process.wait(timeout=10)


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
