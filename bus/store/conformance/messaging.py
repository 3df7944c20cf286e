"""The messaging role: the inbox recognises a duplicate delivery per endpoint; the
outbox keeps every envelope field and hands rows out oldest first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings

from bus.store.base import Store
from bus.store.conformance.support import JSON_OBJECTS, Boom, StoreCase, envelope
from bus.wire.envelope import Envelope, utcnow


class MessagingCases(StoreCase):
    """`bus.store.messaging.Messaging`: inbox and outbox."""

    async def test_duplicate_delivery_is_recognised_per_endpoint(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "m1") is True
            assert await tx.inbox_add("payments", "m1") is False
            assert await tx.inbox_add("shipping", "m1") is True
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "m1") is False

    async def test_a_batch_of_deliveries_is_recorded_at_once(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "seen")
            fresh = await tx.inbox_add_many("payments", ["a", "seen", "b", "a"])
            assert fresh == {"a", "b"}
            assert await tx.inbox_add_many("shipping", ["a", "seen"]) == {"a", "seen"}
            assert await tx.inbox_add_many("payments", []) == set()
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "b") is False
            ids = [f"m{n}" for n in range(1200)]
            assert await tx.inbox_add_many("bulk", ids) == set(ids)
            assert await tx.inbox_add_many("bulk", ids) == set()

    async def test_inbox_purge_deletes_only_rows_received_before_the_cutoff(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.inbox_add("payments", "old-1")
            await tx.inbox_add("payments", "old-2")
        cutoff = utcnow()
        async with store.transaction() as tx:
            await tx.inbox_add("payments", "new")
        async with store.transaction() as tx:
            assert await tx.inbox_purge(cutoff - timedelta(days=1)) == 0
            assert await tx.inbox_purge(cutoff) == 2
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "old-1") is True
            assert await tx.inbox_add("payments", "new") is False

    async def test_outbox_round_trips_every_envelope_field(self, store: Store) -> None:
        sent = Envelope(
            type="ProcessPayment",
            kind="command",
            payload={"amount": 12.5, "items": [{"sku": "ä-1", "qty": 2}], "note": None},
            message_id="5b0c3f8e-0000-4000-8000-000000000001",
            correlation_id="order-7",
            causation_id="cause-1",
            timestamp=datetime(2031, 2, 3, 4, 5, 6, 789012, tzinfo=timezone(timedelta(hours=2))),
            version=3,
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            headers={"tenant": "acme", "attempt": 2, "tags": ["a", "b"], "deep": {"x": True}},
        )
        bare = envelope(1, correlation_id=None)
        async with store.transaction() as tx:
            ids = await tx.outbox_add([sent, bare])
        async with store.transaction() as tx:
            pending = await tx.outbox_pending()
        assert pending == [(ids[0], sent), (ids[1], bare)]
        assert pending[0][1].timestamp.utcoffset() == timedelta(0)

    @given(payload=JSON_OBJECTS, headers=JSON_OBJECTS)
    @example(payload={"nul": "\x00", "big": 2**64 - 1, "tiny": 5e-324}, headers={"": [None]})
    # one store serves every example (rows pile up, which the test allows for), and
    # each backend's subclass is its own executor of this one method
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    async def test_outbox_round_trips_any_json_payload_and_headers(
        self, store: Store, payload: dict[str, Any], headers: dict[str, Any]
    ) -> None:
        sent = envelope(payload=payload, headers=headers)
        async with store.transaction() as tx:
            [row_id] = await tx.outbox_add([sent])
            pending = dict(await tx.outbox_pending(limit=10_000))
            await tx.outbox_mark_sent([row_id])
        assert pending[row_id] == sent

    async def test_outbox_pending_is_oldest_first_and_limited(self, store: Store) -> None:
        async with store.transaction() as tx:
            first = await tx.outbox_add([envelope(n) for n in range(3)])
        async with store.transaction() as tx:
            second = await tx.outbox_add([envelope(n) for n in range(3, 6)])
        ids = first + second
        assert ids == sorted(ids) and len(set(ids)) == 6
        async with store.transaction() as tx:
            assert [i for i, _ in await tx.outbox_pending(limit=4)] == ids[:4]
            assert [e.payload["n"] for _, e in await tx.outbox_pending()] == list(range(6))
            assert await tx.outbox_add([]) == []

    async def test_marked_rows_leave_pending_and_backlog(self, store: Store) -> None:
        async with store.transaction() as tx:
            ids = await tx.outbox_add([envelope(n) for n in range(4)])
            assert await tx.outbox_backlog() == 4
            await tx.outbox_mark_sent([ids[0], ids[2]])
            await tx.outbox_mark_sent([])
        async with store.transaction() as tx:
            assert [i for i, _ in await tx.outbox_pending()] == [ids[1], ids[3]]
            assert await tx.outbox_backlog() == 2

    async def test_the_backlog_is_counted_by_message_type(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.outbox_backlog_by_type() == {}
            placed = await tx.outbox_add([envelope(n) for n in range(3)])
            await tx.outbox_add([envelope(9, type="ChargeCard", kind="command")])
            await tx.outbox_mark_sent([placed[1]])
        async with store.transaction() as tx:
            assert await tx.outbox_backlog_by_type() == {"OrderPlaced": 2, "ChargeCard": 1}

    async def test_new_rows_and_earlier_ones_marked_sent_in_one_write(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            first = await tx.outbox_write([envelope(n) for n in range(3)], [])
        async with store.transaction() as tx:
            more = await tx.outbox_write([envelope(3), envelope(4)], [first[0], first[2]])
            assert await tx.outbox_write([], [more[0]]) == []
            assert await tx.outbox_write([], []) == []
        async with store.transaction() as tx:
            pending = await tx.outbox_pending()
            assert [i for i, _ in pending] == [first[1], more[1]]
            assert [e.payload["n"] for _, e in pending] == [1, 4]
        assert first == sorted(first) and more == sorted(more) and first[-1] < more[0]
        async with store.transaction() as tx:  # a row marked twice, one not there
            last = await tx.outbox_write([envelope(5)], [first[0], more[1], more[1] + 100])
            assert len(last) == 1 and last[0] > more[1]
            pending = await tx.outbox_pending()
            assert [(i, e.payload["n"]) for i, e in pending] == [(first[1], 1), (last[0], 5)]
            assert await tx.outbox_backlog() == 2
            # the sent ones: first[0], first[2], more[0], more[1] and no other row
            assert await tx.outbox_purge(utcnow() + timedelta(seconds=1)) == 4

    async def test_rows_of_a_rolled_back_transaction_are_never_relayed(self, store: Store) -> None:
        async with store.transaction() as tx:
            kept = await tx.outbox_add([envelope(1)])
        with pytest.raises(Boom):
            async with store.transaction() as tx:
                await tx.outbox_add([envelope(2), envelope(3)])
                raise Boom
        async with store.transaction() as tx:
            later = await tx.outbox_add([envelope(4)])
            assert [i for i, _ in await tx.outbox_pending()] == kept + later
            assert await tx.outbox_backlog() == 2

    async def test_outbox_purge_deletes_sent_rows_only(self, store: Store) -> None:
        async with store.transaction() as tx:
            ids = await tx.outbox_add([envelope(n) for n in range(3)])
            await tx.outbox_mark_sent(ids[:2])
        async with store.transaction() as tx:
            assert await tx.outbox_purge(utcnow() - timedelta(days=1)) == 0
            assert await tx.outbox_purge(utcnow() + timedelta(seconds=1)) == 2
            assert [i for i, _ in await tx.outbox_pending()] == [ids[2]]
