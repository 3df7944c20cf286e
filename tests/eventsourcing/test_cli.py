"""`sagabus stream show` and `sagabus projection status|rebuild|resume`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import sagabus.cli.streams
from bus.eventsourcing import EventStore, ProjectionRunner, linked_streams
from bus.store import Store, open_store
from handlers.messages import CompleteOrder, PaymentSucceeded
from sagabus.cli.app import app

from .test_orders import create, deliver
from .test_projection import FlakyTotals, _seed_with_bad

REPO = Path(__file__).resolve().parents[2]

cli = CliRunner()


async def run(store_url: str, *args: str) -> str:
    """The output of the command on the store at `store_url`, which must succeed; in a
    thread of its own, as it runs its own event loop."""
    argv = [*args, "--store", store_url]
    result = await asyncio.to_thread(cli.invoke, app, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_main(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, for exit codes and one-line errors."""
    code = "import sagabus.cli.streams; from sagabus.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, check=False
    )


async def _order(store: Store) -> None:
    await deliver(store, create("o1"))
    await deliver(store, PaymentSucceeded(order_id="o1", payment_id="pay-1", amount=20.0))
    await deliver(store, CompleteOrder(order_id="o1", tracking_number="TRK-1"))


async def test_stream_show_prints_the_events_and_the_rebuilt_state(
    store: Store, store_url: str
) -> None:
    await _order(store)
    out = await run(store_url, "stream", "show", "order-o1")
    for expected in ("OrderCreated", "OrderPaid", "OrderShipped", "OrderCompleted"):
        assert expected in out
    assert "state of OrderAggregate at version 4" in out
    assert '"status": "completed"' in out and '"tracking_number": "TRK-1"' in out


async def test_stream_show_as_of_a_version_or_a_time_shows_the_past(
    store: Store, store_url: str
) -> None:
    await _order(store)
    out = await run(store_url, "stream", "show", "order-o1", "--as-of", "2", "--json")
    shown = orjson.loads(out)
    assert (shown["version"], shown["head"], shown["aggregate"]) == (2, 4, "OrderAggregate")
    assert [e["type"] for e in shown["events"]] == ["OrderCreated", "OrderPaid"]
    assert shown["state"]["status"] == "paid" and shown["state"]["payment_id"] == "pay-1"
    async with store.transaction() as tx:
        first = (await EventStore(tx).read("order-o1"))[0].recorded_at
    at = first.isoformat()
    out = await run(store_url, "stream", "show", "order-o1", "--as-of", at, "--json")
    assert orjson.loads(out)["state"]["status"] == "pending"


def test_stream_show_of_a_missing_stream_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert run_main("projection", "status", "--store", url).returncode == 2  # no store yet
    asyncio.run(_create_store(url))
    result = run_main("stream", "show", "order-nope", "--store", url)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sagabus: error: stream 'order-nope' has no events in {url}"
    ]


async def _create_store(url: str) -> None:
    async with open_store(url):
        pass


def test_a_bad_as_of_is_a_usage_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run_main("stream", "show", "order-1", "--as-of", "yesterday", "--store", url)
    assert result.returncode == 2
    assert "neither a version" in result.stderr and "Traceback" not in result.stderr


async def test_projection_status_shows_a_parked_projection_and_its_reason(
    store: Store, store_url: str
) -> None:
    await _seed_with_bad(store)
    await ProjectionRunner(store, FlakyTotals(), max_attempts=2, retry_delay=0).catch_up()
    out = await run(store_url, "projection", "status", "--json")
    rows = {row["name"]: row for row in orjson.loads(out)}
    flaky = rows["test-flaky-totals"]
    assert (flaky["status"], flaky["failures"], flaky["caught_up"]) == ("parked", 2, False)
    assert "RuntimeError: the read model's database said no" in flaky["reason"]
    assert rows["orders"]["status"] == "running"
    out = await run(store_url, "projection", "status")
    assert "test-flaky-totals parked: RuntimeError: the read model's database said no" in out


async def test_projection_rebuild_builds_the_read_model_from_zero(
    store: Store, store_url: str
) -> None:
    await _order(store)
    out = await run(store_url, "projection", "rebuild", "orders")
    assert "projection orders rebuilt: checkpoint at position 4" in out
    async with store.transaction() as tx:
        view = await tx.state_get("orders.views", "o1")
    assert view is not None and view["status"] == "completed"


async def test_rebuild_of_a_projection_that_parks_exits_1_with_the_reason(
    store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed_with_bad(store)
    monkeypatch.setattr(sagabus.cli.streams, "ProjectionRunner", _no_delay_runner)
    result = await asyncio.to_thread(
        cli.invoke, app, ["projection", "rebuild", "test-flaky-totals", "--store", store_url]
    )
    assert result.exit_code == 1
    assert "projection test-flaky-totals is parked: RuntimeError" in result.output


def _no_delay_runner(store: Store, projection: FlakyTotals) -> ProjectionRunner:
    return ProjectionRunner(store, projection, retry_delay=0)


def test_an_unknown_projection_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run_main("projection", "rebuild", "nope", "--store", url)
    assert result.returncode == 2
    assert result.stderr.startswith("sagabus: error: no projection named 'nope' (known: orders")


async def test_linked_streams_finds_the_order_stream_of_a_saga_key(store: Store) -> None:
    await _order(store)
    async with store.transaction() as tx:
        assert await linked_streams(tx, "o1") == ["order-o1"]
        assert await linked_streams(tx, "o2") == []
