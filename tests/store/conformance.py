"""The behaviour every store backend must have, written once.

A backend's test module subclasses `StoreConformance` and provides the `store_url`
fixture: the URL of a fresh, empty database for one test (nothing created yet). Every
test here then runs against that backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bus.errors import ConcurrencyError, DuplicateInstance
from bus.store import open_store
from bus.store.base import (
    HistoryRecord,
    NewEvent,
    ProjectionRecord,
    SagaRecord,
    Store,
    TimerRecord,
)
from bus.wire.envelope import Envelope, utcnow

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def envelope(n: int = 0, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "type": "OrderPlaced",
        "kind": "event",
        "payload": {"n": n},
        "correlation_id": "order-1",
    }
    fields.update(changes)
    return Envelope(**fields)


def saga(correlation: str = "order-1", *, id: str | None = None, **changes: Any) -> SagaRecord:
    fields: dict[str, Any] = {
        "id": id or f"inst-{correlation}",
        "saga": "order_processing",
        "definition_version": 1,
        "correlation": correlation,
        "state": "awaiting_payment",
    }
    fields.update(changes)
    return SagaRecord(**fields)


def step(instance_id: str, to_state: str, *, input: str = "PaymentSucceeded") -> HistoryRecord:
    return HistoryRecord(
        instance_id=instance_id,
        at=T0,
        input=input,
        message_id=f"msg-{to_state}",
        from_state="awaiting_payment",
        to_state=to_state,
        effects=[{"send": "ReserveStock", "to": to_state}],
    )


def timer(name: str, due: datetime, instance_id: str = "inst-1", **payload: Any) -> TimerRecord:
    return TimerRecord(
        instance_id=instance_id, saga="order_processing", name=name, due_at=due, payload=payload
    )


def new_events(*types: str, writer: str = "w") -> list[NewEvent]:
    return [
        NewEvent(type=t, payload={"i": i}, metadata={"writer": writer}) for i, t in enumerate(types)
    ]


class Boom(Exception):
    """Raised inside a unit of work to make it roll back."""


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_OBJECTS = st.dictionaries(
    st.text(),
    st.recursive(
        JSON_SCALARS,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    max_size=6,
)


class StoreConformance:
    """Subclass per backend and provide a `store_url` fixture."""

    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[Store]:
        async with open_store(store_url) as store:
            yield store

    @pytest.fixture
    async def other_store(self, store: Store, store_url: str) -> AsyncIterator[Store]:
        """A second connection to the same database, as another process would have."""
        async with open_store(store_url) as other:
            yield other

    # -- units of work -----------------------------------------------------------------
    async def test_leaving_a_transaction_by_exception_undoes_all_of_it(self, store: Store) -> None:
        with pytest.raises(Boom):
            async with store.transaction() as tx:
                await tx.inbox_add("payments", "m1")
                await tx.state_put("payments", "acct", {"balance": 1})
                raise Boom
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "m1") is True
            assert await tx.state_get("payments", "acct") is None

    async def test_savepoint_rollback_undoes_only_its_own_inbox_row(self, store: Store) -> None:
        async with store.transaction() as tx:
            await tx.inbox_add("payments", "kept")
            with pytest.raises(Boom):
                async with tx.savepoint():
                    assert await tx.inbox_add("payments", "undone") is True
                    raise Boom
            async with tx.savepoint():
                assert await tx.inbox_add("payments", "second") is True
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "kept") is False
            assert await tx.inbox_add("payments", "second") is False
            assert await tx.inbox_add("payments", "undone") is True

    async def test_nested_savepoints_roll_back_innermost_only(self, store: Store) -> None:
        async with store.transaction() as tx:
            async with tx.savepoint():
                await tx.state_put("s", "outer", {"v": 1})
                with pytest.raises(Boom):
                    async with tx.savepoint():
                        await tx.state_put("s", "inner", {"v": 2})
                        raise Boom
            assert await tx.state_list("s") == [("outer", {"v": 1})]

    async def test_group_commit_keeps_good_deliveries_and_drops_the_failed_one(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            for n in range(5):
                try:
                    async with tx.savepoint():
                        await tx.inbox_add("orders", f"m{n}")
                        await tx.outbox_add([envelope(n)])
                        if n == 2:
                            raise Boom
                except Boom:
                    pass
        async with store.transaction() as tx:
            pending = await tx.outbox_pending()
            assert [e.payload["n"] for _, e in pending] == [0, 1, 3, 4]
            assert await tx.inbox_add("orders", "m2") is True

    # -- inbox -------------------------------------------------------------------------
    async def test_duplicate_delivery_is_recognised_per_endpoint(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "m1") is True
            assert await tx.inbox_add("payments", "m1") is False
            assert await tx.inbox_add("shipping", "m1") is True
        async with store.transaction() as tx:
            assert await tx.inbox_add("payments", "m1") is False

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

    # -- outbox ------------------------------------------------------------------------
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

    # -- services' own state -----------------------------------------------------------
    async def test_state_documents_are_put_read_replaced_and_deleted(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.state_get("inventory", "sku-1") is None
            await tx.state_put("inventory", "sku-1", {"on_hand": 5, "held": []})
            await tx.state_put("inventory", "sku-1", {"on_hand": 4, "held": ["o1"]})
            await tx.state_put("inventory", "sku-0", {"on_hand": 1})
            await tx.state_put("payments", "sku-1", {"other": True})
        async with store.transaction() as tx:
            assert await tx.state_get("inventory", "sku-1", for_update=True) == {
                "on_hand": 4,
                "held": ["o1"],
            }
            assert await tx.state_list("inventory") == [
                ("sku-0", {"on_hand": 1}),
                ("sku-1", {"on_hand": 4, "held": ["o1"]}),
            ]
            await tx.state_delete("inventory", "sku-1")
            await tx.state_delete("inventory", "missing")
        async with store.transaction() as tx:
            assert await tx.state_get("inventory", "sku-1") is None
            assert await tx.state_list("inventory") == [("sku-0", {"on_hand": 1})]
            assert await tx.state_list("nobody") == []

    async def test_for_update_loses_no_increment_between_two_processes(
        self, store: Store, other_store: Store
    ) -> None:
        async def increment(s: Store) -> None:
            async with s.transaction() as tx:
                doc = await tx.state_get("counters", "hits", for_update=True)
                await tx.state_put("counters", "hits", {"n": (doc or {"n": 0})["n"] + 1})

        await asyncio.gather(*(increment(s) for s in [store, other_store] * 10))
        async with store.transaction() as tx:
            assert await tx.state_get("counters", "hits") == {"n": 20}

    # -- saga instances ----------------------------------------------------------------
    async def test_saga_instance_round_trips_and_is_found_by_correlation(
        self, store: Store
    ) -> None:
        record = saga(
            data={"order_id": "o1", "total": 99.5},
            machine={"completed": ["reserve"], "retries": {"pay": 1}},
            reason=None,
            created_at=at(0),
        )
        async with store.transaction() as tx:
            await tx.saga_insert(record)
        async with store.transaction() as tx:
            got = await tx.saga_get(record.id)
            found = await tx.saga_find("order_processing", "order-1", for_update=True)
            assert await tx.saga_get("nope") is None
            assert await tx.saga_find("order_processing", "nope") is None
            assert await tx.saga_find("other_saga", "order-1") is None
        assert got == found
        assert got is not None
        assert got.data == record.data and got.machine == record.machine
        assert (got.state, got.status, got.row_version) == ("awaiting_payment", "running", 0)
        assert got.created_at == at(0) and got.updated_at == at(0)

    async def test_saga_insert_fills_in_creation_time(self, store: Store) -> None:
        before = utcnow()
        async with store.transaction() as tx:
            await tx.saga_insert(saga())
            got = await tx.saga_get("inst-order-1")
        assert got is not None and got.created_at is not None
        assert before <= got.created_at <= utcnow()
        assert got.updated_at == got.created_at

    async def test_second_instance_for_one_correlation_is_refused_and_tx_stays_usable(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.saga_insert(saga("order-1", id="a"))
        async with store.transaction() as tx:
            with pytest.raises(DuplicateInstance, match="order-1"):
                await tx.saga_insert(saga("order-1", id="b"))
            with pytest.raises(DuplicateInstance, match="'a'"):
                await tx.saga_insert(saga("order-2", id="a"))
            await tx.saga_insert(saga("order-3", id="c"))
            await tx.inbox_add("saga.order_processing", "m1")
        async with store.transaction() as tx:
            assert await tx.saga_get("b") is None
            assert await tx.saga_get("c") is not None
            assert await tx.inbox_add("saga.order_processing", "m1") is False

    async def test_same_correlation_in_different_sagas_is_allowed(self, store: Store) -> None:
        async with store.transaction() as tx:
            await tx.saga_insert(saga("order-1", id="a"))
            await tx.saga_insert(saga("order-1", id="b", saga="refunds"))
            assert (await tx.saga_find("refunds", "order-1")) is not None

    async def test_saga_update_bumps_row_version_and_refuses_a_stale_copy(
        self, store: Store, other_store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.saga_insert(saga())
            loaded = await tx.saga_get("inst-order-1")
        assert loaded is not None
        loaded.state, loaded.data = "shipping", {"paid": True}
        async with other_store.transaction() as tx:
            saved = await tx.saga_update(loaded)
        assert saved.row_version == 1 and saved.updated_at is not None
        assert loaded.row_version == 0
        with pytest.raises(ConcurrencyError, match="row_version 1, not 0"):
            async with store.transaction() as tx:
                await tx.saga_update(loaded)
        saved.status, saved.reason = "failed", "payment declined"
        async with store.transaction() as tx:
            again = await tx.saga_update(saved)
            got = await tx.saga_get("inst-order-1")
        assert again.row_version == 2
        assert got == again
        assert (got.state, got.status, got.reason, got.data) == (
            "shipping",
            "failed",
            "payment declined",
            {"paid": True},
        )

    async def test_updating_a_missing_instance_is_a_concurrency_error(self, store: Store) -> None:
        with pytest.raises(ConcurrencyError, match="does not exist"):
            async with store.transaction() as tx:
                await tx.saga_update(saga())

    async def test_saga_list_filters_and_puts_newest_first(self, store: Store) -> None:
        records = [
            saga("o1", created_at=at(1)),
            saga("o2", created_at=at(2), state="shipping"),
            saga("o3", created_at=at(3), status="completed", state="done"),
            saga("o4", created_at=at(4), saga="refunds", state="shipping"),
        ]
        async with store.transaction() as tx:
            for record in records:
                await tx.saga_insert(record)

        async def correlations(**filters: Any) -> list[str]:
            async with store.transaction() as tx:
                return [r.correlation for r in await tx.saga_list(**filters)]

        assert await correlations() == ["o4", "o3", "o2", "o1"]
        assert await correlations(limit=2) == ["o4", "o3"]
        assert await correlations(saga="order_processing") == ["o3", "o2", "o1"]
        assert await correlations(state="shipping") == ["o4", "o2"]
        assert await correlations(saga="order_processing", state="shipping") == ["o2"]
        assert await correlations(status="completed") == ["o3"]
        assert await correlations(status="failed") == []

    async def test_saga_count_groups_by_saga_and_state(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.saga_count() == []
            await tx.saga_insert(saga("o1"))
            await tx.saga_insert(saga("o2"))
            await tx.saga_insert(saga("o3", state="shipping"))
            await tx.saga_insert(saga("o4", saga="refunds"))
            assert await tx.saga_count() == [
                ("order_processing", "awaiting_payment", 2),
                ("order_processing", "shipping", 1),
                ("refunds", "awaiting_payment", 1),
            ]

    # -- history -----------------------------------------------------------------------
    async def test_history_numbers_steps_per_instance_in_append_order(self, store: Store) -> None:
        async with store.transaction() as tx:
            await tx.history_append([step("a", "s1"), step("b", "s1"), step("a", "s2")])
            await tx.history_append([])
        async with store.transaction() as tx:
            await tx.history_append([step("a", "s3"), step("b", "s2")])
        async with store.transaction() as tx:
            history_a = await tx.history("a")
            history_b = await tx.history("b")
            assert await tx.history("none") == []
        assert [(h.seq, h.to_state) for h in history_a] == [(1, "s1"), (2, "s2"), (3, "s3")]
        assert [(h.seq, h.to_state) for h in history_b] == [(1, "s1"), (2, "s2")]
        first = history_a[0]
        assert first == HistoryRecord(
            instance_id="a",
            at=T0,
            input="PaymentSucceeded",
            message_id="msg-s1",
            from_state="awaiting_payment",
            to_state="s1",
            effects=[{"send": "ReserveStock", "to": "s1"}],
            seq=1,
        )

    async def test_history_keeps_a_step_without_message_or_origin(self, store: Store) -> None:
        start = HistoryRecord(
            instance_id="a", at=T0, input="start", message_id=None, from_state=None, to_state="s0"
        )
        async with store.transaction() as tx:
            await tx.history_append([start])
            assert await tx.history("a") == [replace(start, seq=1)]

    # -- timers ------------------------------------------------------------------------
    async def test_arming_a_timer_again_replaces_it(self, store: Store) -> None:
        async with store.transaction() as tx:
            await tx.timer_arm(timer("payment_timeout", at(60), attempt=1))
            await tx.timer_arm(timer("reminder", at(30)))
            await tx.timer_arm(timer("payment_timeout", at(90), attempt=2))
        async with store.transaction() as tx:
            timers = await tx.timers_of("inst-1")
        assert [(t.name, t.due_at, t.payload) for t in timers] == [
            ("reminder", at(30), {}),
            ("payment_timeout", at(90), {"attempt": 2}),
        ]
        assert all(t.id > 0 and t.saga == "order_processing" for t in timers)

    async def test_cancel_removes_named_timers_or_all_of_an_instance(self, store: Store) -> None:
        async with store.transaction() as tx:
            for name in ("a", "b", "c"):
                await tx.timer_arm(timer(name, at(10)))
                await tx.timer_arm(timer(name, at(10), instance_id="inst-2"))
            await tx.timer_cancel("inst-1", ["a", "c", "unknown"])
            await tx.timer_cancel("inst-1", [])
            assert [t.name for t in await tx.timers_of("inst-1")] == ["b"]
            await tx.timer_cancel("inst-2")
            assert await tx.timers_of("inst-2") == []
            assert [t.name for t in await tx.timers_of("inst-1")] == ["b"]

    async def test_due_timers_come_earliest_first_and_deleted_ones_are_gone(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            assert await tx.next_timer_due() is None
            await tx.timer_arm(timer("late", at(300)))
            await tx.timer_arm(timer("second", at(20), instance_id="inst-2"))
            await tx.timer_arm(timer("first", at(10), instance_id="inst-3"))
            await tx.timer_arm(timer("exact", at(30)))
            assert await tx.next_timer_due() == at(10)
        async with store.transaction() as tx:
            due = await tx.timers_due(at(30))
            assert [t.name for t in due] == ["first", "second", "exact"]
            assert [t.name for t in await tx.timers_due(at(30), limit=1)] == ["first"]
            assert await tx.timers_due(at(5)) == []
            await tx.timer_delete(due[0].id)
            await tx.timer_delete(due[1].id)
        async with store.transaction() as tx:
            assert [t.name for t in await tx.timers_due(at(1000))] == ["exact", "late"]
            assert await tx.next_timer_due() == at(30)

    async def test_due_times_compare_as_instants_across_time_zones(self, store: Store) -> None:
        plus_two = timezone(timedelta(hours=2))
        async with store.transaction() as tx:
            await tx.timer_arm(timer("t", T0.astimezone(plus_two)))
            [due] = await tx.timers_due(at(0).astimezone(timezone(timedelta(hours=-5))))
            assert await tx.timers_due(at(-1).astimezone(plus_two)) == []
        assert due.due_at == T0 and due.due_at.utcoffset() == timedelta(0)

    async def test_a_naive_datetime_is_refused(self, store: Store) -> None:
        async with store.transaction() as tx:
            with pytest.raises(ValueError, match="naive"):
                await tx.timer_arm(timer("t", datetime(2030, 1, 1)))

    async def test_racing_schedulers_fire_each_timer_once(
        self, store: Store, other_store: Store
    ) -> None:
        async with store.transaction() as tx:
            for n in range(30):
                await tx.timer_arm(timer(f"t{n}", at(n), instance_id=f"inst-{n}"))
        fired: list[str] = []

        async def scheduler(s: Store) -> None:
            while True:
                async with s.transaction() as tx:
                    due = await tx.timers_due(at(100), limit=4)
                    for t in due:
                        fired.append(t.name)
                        await tx.timer_delete(t.id)
                if not due:
                    return

        await asyncio.gather(scheduler(store), scheduler(other_store), scheduler(store))
        assert sorted(fired) == sorted(f"t{n}" for n in range(30))

    # -- event store -------------------------------------------------------------------
    async def test_appended_events_are_read_back_by_version_range(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.stream_version("order-1") == 0
            stored = await tx.events_append("order-1", new_events("Placed", "Paid"), 0)
            stored += await tx.events_append("order-1", new_events("Shipped"), 2)
        assert [(e.version, e.type) for e in stored] == [(1, "Placed"), (2, "Paid"), (3, "Shipped")]
        assert stored[0].recorded_at.utcoffset() == timedelta(0)
        async with store.transaction() as tx:
            assert await tx.events_read("order-1") == stored
            assert await tx.events_read("order-1", from_version=2) == stored[1:]
            assert await tx.events_read("order-1", to_version=2) == stored[:2]
            assert await tx.events_read("order-1", from_version=2, to_version=2) == [stored[1]]
            assert await tx.events_read("order-2") == []
            assert await tx.stream_version("order-1") == 3
        assert stored[0].payload == {"i": 0} and stored[0].metadata == {"writer": "w"}
        assert stored[0].schema_version == 1

    async def test_global_positions_increase_across_streams(self, store: Store) -> None:
        async with store.transaction() as tx:
            a = await tx.events_append("a", new_events("A1", "A2"), 0)
            b = await tx.events_append("b", new_events("B1"), 0)
        async with store.transaction() as tx:
            a += await tx.events_append("a", new_events("A3"), 2)
        positions = [e.position for e in a[:2] + b + a[2:]]
        assert positions == sorted(positions) and len(set(positions)) == 4

    async def test_append_at_the_wrong_version_is_refused_and_writes_nothing(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.events_append("order-1", new_events("Placed", "Paid"), 0)
        async with store.transaction() as tx:
            for expected in (0, 1, 3):
                with pytest.raises(ConcurrencyError) as refused:
                    await tx.events_append("order-1", new_events("X", "Y"), expected)
                message = str(refused.value)
                assert "'order-1'" in message and "version 2" in message
                assert f"expected {expected}" in message
            with pytest.raises(ConcurrencyError, match="version 0, not the expected 1"):
                await tx.events_append("new", new_events("X"), 1)
            with pytest.raises(ConcurrencyError):
                await tx.events_append("order-1", [], 1)
            assert await tx.events_append("order-1", [], 2) == []
            await tx.events_append("order-1", new_events("Shipped"), 2)
        async with store.transaction() as tx:
            assert [e.type for e in await tx.events_read("order-1")] == [
                "Placed",
                "Paid",
                "Shipped",
            ]
            assert await tx.stream_version("new") == 0

    async def test_a_negative_expected_version_is_a_programming_error(self, store: Store) -> None:
        async with store.transaction() as tx:
            with pytest.raises(ValueError, match="expected_version"):
                await tx.events_append("s", new_events("X"), -1)

    async def test_of_two_racing_writers_exactly_one_wins(
        self, store: Store, other_store: Store
    ) -> None:
        async def write(s: Store, writer: str) -> str:
            try:
                async with s.transaction() as tx:
                    await tx.events_append("order-1", new_events("A", "B", "C", writer=writer), 0)
            except ConcurrencyError:
                return "lost"
            return "won"

        outcomes = await asyncio.gather(write(store, "one"), write(other_store, "two"))
        assert sorted(outcomes) == ["lost", "won"]
        winner = "one" if outcomes[0] == "won" else "two"
        async with store.transaction() as tx:
            events = await tx.events_read("order-1")
        assert [e.version for e in events] == [1, 2, 3]
        assert {e.metadata["writer"] for e in events} == {winner}

    async def test_contending_writers_leave_a_gapless_stream_in_position_order(
        self, store: Store, other_store: Store
    ) -> None:
        async def writer(s: Store, name: str) -> None:
            for batch in range(3):
                while True:
                    try:
                        async with s.transaction() as tx:
                            version = await tx.stream_version("hot")
                            await tx.events_append(
                                "hot", new_events(f"{name}.{batch}a", f"{name}.{batch}b"), version
                            )
                        break
                    except ConcurrencyError:
                        continue

        await asyncio.gather(*(writer(s, f"w{n}") for n, s in enumerate([store, other_store] * 2)))
        async with store.transaction() as tx:
            events = await tx.events_read("hot")
            log = await tx.events_after(0)
        assert [e.version for e in events] == list(range(1, 25))
        assert [e.position for e in events] == sorted(e.position for e in events)
        assert log == events
        for first, second in zip(events[::2], events[1::2], strict=True):
            assert (first.type[:-1], first.type[-1], second.type[-1]) == (
                second.type[:-1],
                "a",
                "b",
            )

    async def test_the_global_log_pages_in_position_order(self, store: Store) -> None:
        async with store.transaction() as tx:
            for n in range(7):
                await tx.events_append(f"s{n % 3}", new_events(f"E{n}"), n // 3)
        pages: list[list[str]] = []
        position = 0
        while True:
            async with store.transaction() as tx:
                page = await tx.events_after(position, limit=3)
            if not page:
                break
            pages.append([e.type for e in page])
            position = page[-1].position
        assert pages == [["E0", "E1", "E2"], ["E3", "E4", "E5"], ["E6"]]

    async def test_the_newest_snapshot_at_or_below_a_version_is_loaded(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.snapshot_load("order-1") is None
            await tx.snapshot_save("order-1", 2, {"total": 2})
            await tx.snapshot_save("order-1", 5, {"total": 5})
            await tx.snapshot_save("order-1", 5, {"total": 55})
            await tx.snapshot_save("order-2", 9, {"other": True})
        async with store.transaction() as tx:
            assert await tx.snapshot_load("order-1") == (5, {"total": 55})
            assert await tx.snapshot_load("order-1", at_most=4) == (2, {"total": 2})
            assert await tx.snapshot_load("order-1", at_most=5) == (5, {"total": 55})
            assert await tx.snapshot_load("order-1", at_most=1) is None

    async def test_a_projection_checkpoint_starts_at_zero_and_is_kept(self, store: Store) -> None:
        async with store.transaction() as tx:
            assert await tx.projection_get("totals") == ProjectionRecord("totals", 0)
            assert await tx.projection_get("totals", for_update=True) == ProjectionRecord(
                "totals", 0
            )
            await tx.projection_put(ProjectionRecord("totals", 17))
        parked = ProjectionRecord("totals", 18, status="parked", reason="bad event", failures=3)
        async with store.transaction() as tx:
            assert await tx.projection_get("totals", for_update=True) == ProjectionRecord(
                "totals", 17
            )
            await tx.projection_put(parked)
        async with store.transaction() as tx:
            assert await tx.projection_get("totals") == parked
            assert await tx.projection_get("other") == ProjectionRecord("other", 0)

    async def test_two_projectors_never_process_the_same_events(
        self, store: Store, other_store: Store
    ) -> None:
        async with store.transaction() as tx:
            for n in range(12):
                await tx.events_append(f"s{n}", new_events("E"), 0)
        seen: list[int] = []

        async def projector(s: Store) -> None:
            while True:
                async with s.transaction() as tx:
                    checkpoint = await tx.projection_get("p", for_update=True)
                    page = await tx.events_after(checkpoint.position, limit=2)
                    if not page:
                        return
                    seen.extend(e.position for e in page)
                    await tx.projection_put(ProjectionRecord("p", page[-1].position))

        await asyncio.gather(projector(store), projector(other_store))
        assert sorted(seen) == seen and len(seen) == 12

    # -- schema ------------------------------------------------------------------------
    async def test_opening_twice_and_reopening_keeps_schema_and_data(
        self, store: Store, store_url: str
    ) -> None:
        await store.open()
        async with store.transaction() as tx:
            await tx.saga_insert(saga())
            await tx.events_append("s", new_events("E"), 0)
        await store.close()
        await store.close()
        async with open_store(store_url) as reopened, reopened.transaction() as tx:
            assert await tx.saga_get("inst-order-1") is not None
            assert await tx.stream_version("s") == 1

    async def test_two_processes_creating_the_schema_at_once_both_succeed(
        self, store_url: str
    ) -> None:
        first, second = open_store(store_url), open_store(store_url)
        await asyncio.gather(first.open(), second.open())
        try:
            async with first.transaction() as tx:
                await tx.inbox_add("e", "m")
            async with second.transaction() as tx:
                assert await tx.inbox_add("e", "m") is False
        finally:
            await first.close()
            await second.close()

    async def test_a_transaction_needs_an_open_store(self, store_url: str) -> None:
        with pytest.raises(RuntimeError, match="not open"):
            async with open_store(store_url).transaction():
                pass
