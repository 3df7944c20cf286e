"""The event store facade on both backends: append, read, time, outbox, bad input."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest
from live_services import PG_URL

from bus.errors import ConcurrencyError
from bus.eventsourcing import EventStore, StreamConflict, UnreadableEvent
from bus.store import Store
from bus.store.base import NewEvent
from bus.wire.envelope import Envelope

from .domain import TallyAdded, TallyOpened


def _opened(tally_id: str = "t1") -> TallyOpened:
    return TallyOpened(tally_id=tally_id, owner="ann")


async def test_append_then_read_gives_events_with_versions_and_positions(store: Store) -> None:
    async with store.transaction() as tx:
        events = EventStore(tx)
        await events.append("tally-t1", [_opened(), TallyAdded(tally_id="t1", by=2)], 0)
        await events.append("tally-t2", [_opened("t2")], 0)
        await events.append("tally-t1", [TallyAdded(tally_id="t1", by=3)], 2)
    async with store.transaction() as tx:
        read = await EventStore(tx).read("tally-t1")
        log = await EventStore(tx).read_all()
    assert [r.version for r in read] == [1, 2, 3]
    assert [type(r.event) for r in read] == [TallyOpened, TallyAdded, TallyAdded]
    assert read[2].event == TallyAdded(tally_id="t1", by=3)
    assert [r.stream_id for r in log] == ["tally-t1", "tally-t1", "tally-t2", "tally-t1"]
    positions = [r.position for r in log]
    assert positions == sorted(positions) and len(set(positions)) == 4


async def test_appended_events_are_queued_in_the_outbox_of_the_same_transaction(
    store: Store,
) -> None:
    cause = Envelope(type="OpenTally", kind="command", payload={}, correlation_id="conv-1")
    async with store.transaction() as tx:
        recorded = await EventStore(tx).append(
            "tally-t1", [_opened(), TallyAdded(tally_id="t1", by=1)], 0, cause=cause
        )
    async with store.transaction() as tx:
        pending = [envelope for _, envelope in await tx.outbox_pending()]
    assert [e.type for e in pending] == ["TallyOpened", "TallyAdded"]
    assert [e.message_id for e in pending] == [r.message_id for r in recorded]
    for envelope in pending:
        assert envelope.kind == "event"
        assert envelope.correlation_id == "conv-1"
        assert envelope.causation_id == cause.message_id
        assert envelope.headers["stream_id"] == "tally-t1"
    assert pending[1].payload == {"tally_id": "t1", "by": 1}


async def test_metadata_correlation_wins_over_the_cause(store: Store) -> None:
    cause = Envelope(type="OpenTally", kind="command", payload={}, correlation_id="conv-1")
    async with store.transaction() as tx:
        await EventStore(tx).append(
            "tally-t1", [_opened()], 0, cause=cause, metadata={"correlation_id": "saga-9"}
        )
        [(_, envelope)] = await tx.outbox_pending()
    assert envelope.correlation_id == "saga-9"


async def test_a_publisher_takes_the_envelopes_instead_of_the_outbox(store: Store) -> None:
    published: list[Envelope] = []
    async with store.transaction() as tx:
        await EventStore(tx, publisher=published.append).append("tally-t1", [_opened()], 0)
        assert await tx.outbox_backlog() == 0
    assert [e.type for e in published] == ["TallyOpened"]


async def test_publish_false_stores_without_publishing(store: Store) -> None:
    async with store.transaction() as tx:
        await EventStore(tx).append("tally-t1", [_opened()], 0, publish=False)
        assert await tx.outbox_backlog() == 0
        assert await EventStore(tx).version("tally-t1") == 1


async def test_stale_expected_version_is_a_clear_error_and_changes_nothing(store: Store) -> None:
    async with store.transaction() as tx:
        await EventStore(tx).append("tally-t1", [_opened()], 0)
    with pytest.raises(StreamConflict) as caught:
        async with store.transaction() as tx:
            await EventStore(tx).append("tally-t1", [TallyAdded(tally_id="t1", by=1)], 0)
    assert isinstance(caught.value, ConcurrencyError)
    message = str(caught.value)
    assert "'tally-t1'" in message and "version 1" in message and "expected 0" in message
    async with store.transaction() as tx:
        assert [r.version for r in await EventStore(tx).read("tally-t1")] == [1]
        assert await tx.outbox_backlog() == 1


async def test_a_failed_append_inside_a_unit_of_work_leaves_the_transaction_usable(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        events = EventStore(tx)
        await events.append("tally-t1", [_opened()], 0)
        with pytest.raises(StreamConflict):
            async with tx.savepoint():
                await events.append("tally-t1", [TallyAdded(tally_id="t1", by=1)], 5)
        await events.append("tally-t1", [TallyAdded(tally_id="t1", by=1)], 1)
    async with store.transaction() as tx:
        assert await EventStore(tx).version("tally-t1") == 2
        assert await tx.outbox_backlog() == 2


async def test_rolled_back_unit_of_work_leaves_no_event_and_no_outbox_row(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await EventStore(tx).append("tally-t1", [_opened()], 0)
            raise RuntimeError("handler failed after appending")
    async with store.transaction() as tx:
        assert await EventStore(tx).version("tally-t1") == 0
        assert await tx.outbox_backlog() == 0


async def test_read_from_version_and_as_of_version(store: Store) -> None:
    async with store.transaction() as tx:
        events = EventStore(tx)
        await events.append("tally-t1", [_opened()], 0)
        for n in range(1, 5):
            await events.append("tally-t1", [TallyAdded(tally_id="t1", by=n)], n)
        assert [r.version for r in await events.read("tally-t1", from_version=3)] == [3, 4, 5]
        assert [r.version for r in await events.read("tally-t1", as_of=2)] == [1, 2]
        assert await events.read("tally-t1", as_of=0) == []
        assert [r.version for r in await events.read("tally-t1", from_version=2, as_of=3)] == [
            2,
            3,
        ]


async def test_read_as_of_a_time_stops_at_the_last_event_recorded_by_then(store: Store) -> None:
    stamps: list[datetime] = []
    for n in range(3):
        async with store.transaction() as tx:
            events = EventStore(tx)
            new = [_opened()] if n == 0 else [TallyAdded(tally_id="t1", by=n)]
            [recorded] = await events.append("tally-t1", new, n)
            stamps.append(recorded.recorded_at)
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    async with store.transaction() as tx:
        events = EventStore(tx)
        for version, stamp in enumerate(stamps, start=1):
            assert [r.version for r in await events.read("tally-t1", as_of=stamp)] == list(
                range(1, version + 1)
            )
        with pytest.raises(ValueError, match="time zone"):
            await events.read("tally-t1", as_of=datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        pytest.param(
            NewEvent(type="TallyRenamedLongAgo", payload={"x": 1}),
            "unknown message type 'TallyRenamedLongAgo'",
            id="an unknown event type",
        ),
        pytest.param(
            NewEvent(
                type="TallyOpened", payload={"tally_id": "t1", "owner": "a"}, schema_version=4
            ),
            "version 4 is newer",
            id="a newer schema version",
        ),
    ],
)
async def test_an_event_this_code_cannot_read_is_unreadable(
    store: Store, stored: NewEvent, reason: str
) -> None:
    async with store.transaction() as tx:
        await tx.events_append("tally-t1", [stored], 0)
    async with store.transaction() as tx:
        with pytest.raises(UnreadableEvent, match=reason):
            await EventStore(tx).read("tally-t1")


async def test_a_payload_that_fails_its_contract_is_unreadable(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.events_append(
            "tally-t1", [NewEvent(type="TallyAdded", payload={"tally_id": "t1", "by": "x"})], 0
        )
    async with store.transaction() as tx:
        with pytest.raises(UnreadableEvent) as caught:
            await EventStore(tx).read("tally-t1")
    assert "'tally-t1' version 1" in str(caught.value) and "by" in str(caught.value)


async def test_a_corrupt_stored_payload_is_unreadable(store: Store, store_url: str) -> None:
    async with store.transaction() as tx:
        await EventStore(tx).append("tally-t1", [_opened()], 0)
    if store_url.startswith("sqlite"):
        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        with conn:
            conn.execute(
                "UPDATE event SET payload = '{\"tally_id\": ' WHERE stream_id = 'tally-t1'"
            )
        conn.close()
        expected = "not JSON"
    else:
        schema = store_url.rsplit("schema=", 1)[1]
        conn = await asyncpg.connect(PG_URL)
        await conn.execute(
            f"UPDATE \"{schema}\".event SET payload = '[1, 2]' WHERE stream_id = 'tally-t1'"
        )
        await conn.close()
        expected = "not an object"
    async with store.transaction() as tx:
        with pytest.raises(UnreadableEvent, match=expected):
            await EventStore(tx).read("tally-t1")
