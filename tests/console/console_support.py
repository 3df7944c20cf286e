"""Stores with real data for the console's tests, and an HTTP client on the app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bus.daemon import import_package
from bus.store.base import HistoryRecord, SagaRecord, SagaStatus, Store
from saga_dsl.engine.versions import load_machines
from saga_dsl.machine import Machine
from sagabus.console import create_app
from sagabus.console.dead_letters import DeadLetterSource

ROOT = Path(__file__).resolve().parents[2]
SAGAS = ROOT / "sagas"
SAGA = "order_processing"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

HOSTILE = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert('pwned')</script>"


def order_machines() -> list[Machine]:
    import_package("handlers")  # registers the contracts the saga file is checked against
    return load_machines(SAGAS)


@asynccontextmanager
async def console_client(
    store: Store, machines: list[Machine], dead_letters: DeadLetterSource | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the console app, in this event loop (the store is bound to it)."""
    app = create_app(store, machines, dead_letters=dead_letters)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client


def record(
    n: int, *, state: str = "awaiting_payment", status: SagaStatus = "running", **changes: object
) -> SagaRecord:
    created = T0 + timedelta(seconds=n)
    fields: dict[str, object] = {
        "id": f"inst-{n:04d}",
        "saga": SAGA,
        "definition_version": 1,
        "correlation": f"o-{n}",
        "state": state,
        "status": status,
        "data": {"order_id": f"o-{n}"},
        "created_at": created,
        "updated_at": created,
    }
    fields.update(changes)
    return SagaRecord(**fields)  # type: ignore[arg-type]


async def write(store: Store, *records: SagaRecord, history: list[HistoryRecord] = ()) -> None:  # type: ignore[assignment]
    async with store.transaction() as tx:
        for r in records:
            await tx.saga_insert(r)
        await tx.history_append(history)


def wait_until_serving(process: subprocess.Popen[bytes], port: int, within: float) -> None:
    """Returns once the console accepts connections; fails when it exits or is late."""
    deadline = time.monotonic() + within
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"sagabus console exited with {process.returncode}: {output}")
        if time.monotonic() > deadline:
            pytest.fail(f"sagabus console did not listen on {port} within {within}s")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def console_process(
    command: list[str], port: int, env: Mapping[str, str], within: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m sagabus.cli *command`, which serves the console on `port`, with `env`
    over os.environ less the developer's own `SAGABUS_*`, once it listens; stopped
    afterwards (SIGTERM, then killed if it is still running 10 s later)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SAGABUS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sagabus.cli", *command],
        cwd=ROOT, env={**inherited, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until_serving(process, port, within)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
