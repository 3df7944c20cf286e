"""Takes the screenshots of docs/console.md: runs orders through the order saga on the
in-memory bus (completed ones, declined payments, out-of-stock ones, and orders left
waiting in manual review), serves `sagabus console` over that store and has Debian's
headless Chromium photograph the overview, the instance list and one instance.

    .venv/bin/python scripts/console_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import handlers.messages as m
from bus.store import open_store
from saga_dsl.testing import SagaHarness

ROOT = Path(__file__).resolve().parent.parent
SAGAS = ROOT / "sagas"
SAGA = "order_processing"
SHOTS = {"console-overview.png": "/", "console-instances.png": "/instances"}


async def run_orders(url: str) -> str:
    """Orders on every path the services choose by themselves; returns the id of an
    instance that was cancelled after its payment was refunded."""
    async with open_store(url) as store, SagaHarness(services="handlers", sagas=SAGAS,
                                                     store=store) as h:
        plans = [("BOOK-1", 30.0)] * 14 + [("OOS-LAMP", 40.0)] * 4 + [("BOOK-2", 60_000.0)] * 3
        plans += [("PIANO-1", 20_000.0)] * 5  # above 10,000: they wait in manual review
        for n, (sku, amount) in enumerate(plans):
            item = m.OrderItem(sku=sku, quantity=1, unit_price=amount)
            await h.send(m.CreateOrder(order_id=f"o-{1000 + n}", customer_id=f"c-{n % 7}",
                                       items=[item], amount=amount))
        await h.wait_idle()
        record = await h.saga(SAGA, "o-1014")
    assert record is not None
    return record.id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def photograph(chromium: str, url: str, out: Path, profile: Path) -> None:
    subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--window-size=1400,1300",
         "--virtual-time-budget=10000", f"--screenshot={out}", url],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    if not out.exists():
        raise SystemExit(f"chromium wrote no screenshot of {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/console.db"
        cancelled = asyncio.run(run_orders(url))
        port = free_port()
        env = {**os.environ, "SAGABUS_STORE": url}
        command = [sys.executable, "-m", "sagabus", "console", "--sagas", str(SAGAS),
                   "--port", str(port), "--no-dead-letters"]
        with subprocess.Popen(command, cwd=ROOT, env=env) as console:
            try:
                base = f"http://127.0.0.1:{port}"
                wait_until_up(base)
                shots = {**SHOTS, "console-instance.png": f"/instances/{cancelled}"}
                for name, path in shots.items():
                    photograph(chromium, base + path, args.out / name, Path(tmp) / "profile")
                    print(f"{args.out / name}: {base + path}")
            finally:
                console.terminate()


if __name__ == "__main__":
    main()
