"""Projection runners on both backends: exactly once, failures, parking, rebuild, crash."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bus.eventsourcing import EventStore, ProjectionRunner, RecordedEvent, on, projection_task
from bus.store import Store, open_store
from bus.store.base import NewEvent, Transaction
from handlers.messages import CancelOrder, CompleteOrder, OrderShipped, PaymentSucceeded
from handlers.order_views import ORDER_VIEWS, OrderViews

from .domain import (
    TOTALS,
    ReferenceTotals,
    TallyAdded,
    TallyOpened,
    TallyTotals,
    read_model,
    seed_tallies,
)
from .test_orders import create, deliver

REPO = Path(__file__).resolve().parents[2]
WORKER = "tests.eventsourcing.projection_worker"
LINE_TIMEOUT = 60.0


class FlakyTotals(TallyTotals):
    """Fails on every event of tally `bad` (after writing, to prove the write is undone)
    while `failures_left` > 0."""

    name = "test-flaky-totals"
    namespace = "test.flaky"
    namespaces = ("test.flaky",)

    def __init__(self, failures_left: int = 1_000) -> None:
        self.failures_left = failures_left
        self.attempts = 0

    @on(TallyOpened)
    async def opened(self, tx: Transaction, recorded: RecordedEvent[TallyOpened]) -> None:
        await super().opened(tx, recorded)
        if recorded.event.tally_id == "bad" and self.failures_left > 0:
            self.attempts += 1
            self.failures_left -= 1
            raise RuntimeError("the read model's database said no")


async def _append(store: Store, stream: str, events: list[Any], version: int) -> list[int]:
    async with store.transaction() as tx:
        return [r.position for r in await EventStore(tx).append(stream, events, version)]


async def _seed_with_bad(store: Store) -> dict[str, int]:
    positions = {}
    [positions["t1-open"]] = await _append(
        store, "tally-t1", [TallyOpened(tally_id="t1", owner="a")], 0
    )
    [positions["t1-add-1"]] = await _append(store, "tally-t1", [TallyAdded(tally_id="t1", by=1)], 1)
    [positions["bad"]] = await _append(
        store, "tally-bad", [TallyOpened(tally_id="bad", owner="b")], 0
    )
    [positions["t1-add-2"]] = await _append(store, "tally-t1", [TallyAdded(tally_id="t1", by=2)], 2)
    return positions


async def test_catch_up_applies_every_event_once_and_stores_the_checkpoint(store: Store) -> None:
    last = await seed_tallies(store, tallies=5, events_each=23)
    runner = ProjectionRunner(store, TallyTotals(), batch_size=7)
    record = await runner.catch_up()
    assert (record.position, record.status) == (last, "running")
    again = await runner.catch_up()
    assert again.position == last
    async with store.transaction() as tx:
        model = await read_model(tx)
    assert len(model) == 5
    assert model["t2"]["n"] == 23 and model["t2"]["total"] == 3 * sum(range(1, 23))


async def test_a_failing_handler_keeps_the_checkpoint_before_it_retries_then_parks(
    store: Store,
) -> None:
    positions = await _seed_with_bad(store)
    projection = FlakyTotals()
    runner = ProjectionRunner(store, projection, max_attempts=3, retry_delay=0)
    assert await runner.step() == "failed"
    first = await runner.status()
    assert (first.position, first.failures, first.status) == (positions["t1-add-1"], 1, "running")
    assert await runner.step() == "failed"
    assert await runner.step() == "parked"
    parked = await runner.status()
    assert (parked.position, parked.failures, parked.status) == (positions["t1-add-1"], 3, "parked")
    assert parked.reason is not None
    assert "RuntimeError: the read model's database said no" in parked.reason
    assert f"position {positions['bad']}" in parked.reason and "'tally-bad'" in parked.reason
    assert projection.attempts == 3
    assert await runner.step() == "parked"  # stays parked: nothing more is tried
    assert projection.attempts == 3
    async with store.transaction() as tx:
        model = await read_model(tx, "test.flaky")
    # the failing handler's own write was undone; the event after it was not applied
    assert set(model) == {"t1"} and model["t1"]["total"] == 1


async def test_catch_up_retries_a_transient_failure_and_goes_on(store: Store) -> None:
    positions = await _seed_with_bad(store)
    projection = FlakyTotals(failures_left=2)
    record = await ProjectionRunner(store, projection, max_attempts=3, retry_delay=0).catch_up()
    assert (record.position, record.status, record.failures) == (
        positions["t1-add-2"],
        "running",
        0,
    )
    async with store.transaction() as tx:
        model = await read_model(tx, "test.flaky")
    assert model["t1"]["total"] == 3 and model["bad"]["n"] == 1 and projection.attempts == 2


async def test_resume_after_the_cause_is_fixed_goes_on_from_the_checkpoint(store: Store) -> None:
    positions = await _seed_with_bad(store)
    projection = FlakyTotals()
    runner = ProjectionRunner(store, projection, max_attempts=2, retry_delay=0)
    assert (await runner.catch_up()).status == "parked"
    projection.failures_left = 0
    record = await runner.resume()
    assert (record.position, record.status, record.reason) == (
        positions["t1-add-2"],
        "running",
        None,
    )
    async with store.transaction() as tx:
        model = await read_model(tx, "test.flaky")
    assert model["t1"]["total"] == 3 and model["bad"]["n"] == 1


async def test_rebuild_starts_over_from_an_empty_read_model(store: Store) -> None:
    last = await seed_tallies(store, tallies=3, events_each=12)
    runner = ProjectionRunner(store, TallyTotals(), batch_size=5)
    await runner.catch_up()
    async with store.transaction() as tx:
        before = await read_model(tx)
        await tx.state_put(TOTALS, "stray", {"total": 1})
    record = await runner.rebuild()
    async with store.transaction() as tx:
        assert await read_model(tx) == before
    assert record.position == last


async def test_events_the_projection_does_not_handle_are_skipped_unread(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.events_append("other-1", [NewEvent(type="SomethingNobodyKnows", payload={})], 0)
    await _append(store, "tally-t1", [TallyOpened(tally_id="t1", owner="a")], 0)
    record = await ProjectionRunner(store, TallyTotals()).catch_up()
    assert record.status == "running" and record.position == 2


async def test_an_unreadable_event_it_handles_parks_the_projection_with_the_reason(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        await tx.events_append(
            "tally-t1", [NewEvent(type="TallyOpened", payload={"tally_id": 7})], 0
        )
    record = await ProjectionRunner(store, TallyTotals(), max_attempts=1).catch_up()
    assert record.status == "parked" and record.position == 0
    assert record.reason is not None and record.reason.startswith(
        "UnreadableEvent: stream 'tally-t1'"
    )


async def test_two_runners_of_one_projection_apply_each_event_once(store_url: str) -> None:
    async with open_store(store_url) as store:
        await seed_tallies(store, tallies=4, events_each=40)
    async with open_store(store_url) as one, open_store(store_url) as two:
        await asyncio.gather(
            ProjectionRunner(one, TallyTotals(), batch_size=9).catch_up(),
            ProjectionRunner(two, TallyTotals(), batch_size=13).catch_up(),
        )
        await ProjectionRunner(one, ReferenceTotals()).catch_up()
        async with one.transaction() as tx:
            assert await read_model(tx) == await read_model(tx, ReferenceTotals.namespace)


async def test_the_orders_read_model_follows_the_order_streams(store: Store) -> None:
    await deliver(store, create("o1"))
    await deliver(store, create("o2"))
    await deliver(store, PaymentSucceeded(order_id="o1", payment_id="pay-1", amount=20.0))
    await deliver(store, OrderShipped(order_id="o1", tracking_number="TRK-1"))
    await deliver(store, CompleteOrder(order_id="o1", tracking_number="TRK-1"))
    await deliver(store, CancelOrder(order_id="o2", reason="changed mind"))
    runner = ProjectionRunner(store, OrderViews())
    await runner.catch_up()
    async with store.transaction() as tx:
        views = dict(await tx.state_list(ORDER_VIEWS))
    assert views["o1"]["status"] == "completed" and views["o1"]["tracking_number"] == "TRK-1"
    assert views["o1"]["payment_id"] == "pay-1" and views["o1"]["version"] == 4
    assert views["o2"]["status"] == "cancelled" and views["o2"]["reason"] == "changed mind"
    assert views["o2"]["customer_id"] == "c1" and views["o2"]["amount"] == 20.0
    await runner.rebuild()
    async with store.transaction() as tx:
        assert dict(await tx.state_list(ORDER_VIEWS)) == views


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), LINE_TIMEOUT)
    if not line:
        raise AssertionError(f"worker exited early with {await proc.wait()}")
    return line.decode().strip()


async def _worker(url: str, batch_size: int, *hang_at: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        WORKER,
        url,
        str(batch_size),
        *map(str, hang_at),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )


async def test_a_projector_killed_mid_catch_up_ends_with_the_uninterrupted_read_model(
    store: Store, store_url: str
) -> None:
    batch = 50
    last = await seed_tallies(store, tallies=40, events_each=50)  # 2,000 events
    hang_at = 3 * batch + 25  # mid-way through the fourth batch

    killed = await _worker(store_url, batch, hang_at)
    lines = [await _line(killed)]
    while not lines[-1].startswith("inside"):
        lines.append(await _line(killed))
    killed.send_signal(signal.SIGKILL)
    assert await killed.wait() == -signal.SIGKILL
    assert lines == ["start 0", "checkpoint 50", "checkpoint 100", "checkpoint 150", "inside 175"]

    restarted = await _worker(store_url, batch)
    assert await _line(restarted) == "start 150"  # the killed batch left nothing behind
    out, _ = await asyncio.wait_for(restarted.communicate(), LINE_TIMEOUT)
    assert restarted.returncode == 0
    assert out.decode().split("\n")[-2] == f"done {last}"

    reference = await ProjectionRunner(store, ReferenceTotals(), batch_size=batch).catch_up()
    assert reference.position == last
    async with store.transaction() as tx:
        crashed_model = await read_model(tx)
        uninterrupted = await read_model(tx, ReferenceTotals.namespace)
        assert (await tx.projection_get(TallyTotals.name)).position == last
    assert len(crashed_model) == 40
    assert crashed_model == uninterrupted


async def test_a_projection_task_follows_new_events_until_cancelled(
    store: Store, eventually: Any
) -> None:
    follow = projection_task(TallyTotals(), batch_size=10)
    assert follow.__name__ == "projection:test-tally-totals"
    task = asyncio.create_task(follow(SimpleNamespace(store=store)))  # stands in for the Bus

    async def checkpoint() -> int:
        async with store.transaction() as tx:
            return (await tx.projection_get(TallyTotals.name)).position

    try:
        [opened] = await _append(store, "tally-t1", [TallyOpened(tally_id="t1", owner="a")], 0)
        await eventually(lambda: _at(checkpoint, opened), what="the first event projected")
        [added] = await _append(store, "tally-t1", [TallyAdded(tally_id="t1", by=5)], 1)
        await eventually(lambda: _at(checkpoint, added), what="a later event projected")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    async with store.transaction() as tx:
        assert (await read_model(tx))["t1"]["total"] == 5


async def _at(checkpoint: Callable[[], Awaitable[int]], position: int) -> bool:
    return await checkpoint() == position
