"""The saga role: instances (unique per saga and correlation, optimistic versions),
their numbered history, and durable timers fired once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bus.errors import ConcurrencyError, DuplicateInstance
from bus.store.base import HistoryRecord, StepWrites, Store
from bus.store.conformance.support import T0, StoreCase, at, saga, step, timer
from bus.wire.envelope import utcnow


class SagaCases(StoreCase):
    """`bus.store.sagas.Sagas`: instances, history, timers."""

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

    async def test_instances_of_every_saga_are_found_by_correlation_alone(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.saga_insert(saga("order-1", id="a", saga="shipping"))
            await tx.saga_insert(saga("order-1", id="b", saga="refunds"))
            await tx.saga_insert(saga("order-2", id="c"))
        async with store.transaction() as tx:
            found = await tx.saga_with_correlation("order-1")
            assert await tx.saga_with_correlation("order-3") == []
        assert [(r.saga, r.id) for r in found] == [("refunds", "b"), ("shipping", "a")]
        assert found[0].correlation == "order-1" and found[0].state == "awaiting_payment"

    async def test_instances_are_read_many_at_once_by_id_and_correlation(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            for record in (saga("c1", id="i3"), saga("c2", id="i1"), saga("c3", id="i2"),
                           saga("c2", id="i4", saga="refunds")):
                await tx.saga_insert(record)
        async with store.transaction() as tx:
            both = await tx.saga_get_many(
                ["i3", "i1", "nope", "i4"], "order_processing", ["c2", "c3", "c9"],
                for_update=True,
            )
            by_id = await tx.saga_get_many(["i2"], "order_processing", [])
            by_correlation = await tx.saga_get_many([], "refunds", ["c2", "c1"])
            single = [await tx.saga_get(i) for i in ("i1", "i2", "i3", "i4")]
            assert await tx.saga_get_many([], "order_processing", []) == []
            assert await tx.saga_get_many(["nope"], "refunds", ["c3"]) == []
        # each once (i1 by id and by correlation), ordered by id, as the single reads
        assert both == single
        assert [r.id for r in by_id] == ["i2"]
        assert [(r.id, r.saga) for r in by_correlation] == [("i4", "refunds")]

    async def test_instances_read_at_once_are_as_a_step_in_the_same_transaction_left_them(
        self, store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.saga_insert(saga("c1", id="i1"))
            (read,) = await tx.saga_get_many(["i1"], "order_processing", [], for_update=True)
            await tx.saga_update(replace(read, state="paid"))
            (again,) = await tx.saga_get_many([], "order_processing", ["c1"], for_update=True)
        assert (again.state, again.row_version) == ("paid", 1)

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

    async def test_a_start_writes_the_instance_its_history_and_timers_or_nothing(
        self, store: Store
    ) -> None:
        first = StepWrites(step("inst-order-1", "s1"), (), (timer("t1", at(10), "inst-order-1"),))
        async with store.transaction() as tx:
            await tx.saga_start(saga(created_at=at(0)), first)
        again = StepWrites(
            step("inst-order-1", "x"), ("t1",), (timer("t2", at(5), "inst-order-1"),)
        )
        async with store.transaction() as tx:
            with pytest.raises(DuplicateInstance, match="order-1") as duplicate:
                await tx.saga_start(saga(), again)
            assert not duplicate.value.raced  # there before, not created meanwhile
            with pytest.raises(DuplicateInstance) as duplicate:
                await tx.saga_start(saga("order-2", id="inst-order-1"), again)
            assert not duplicate.value.raced
            await tx.inbox_add("saga.order_processing", "m1")  # still usable
        async with store.transaction() as tx:
            got = await tx.saga_get("inst-order-1")
            history = await tx.history("inst-order-1")
            timers = await tx.timers_of("inst-order-1")
            assert await tx.saga_find("order_processing", "order-2") is None
            assert await tx.inbox_add("saga.order_processing", "m1") is False
        assert got is not None and (got.row_version, got.created_at) == (0, at(0))
        assert [(h.seq, h.to_state, h.effects) for h in history] == [
            (1, "s1", [{"send": "ReserveStock", "to": "s1"}])
        ]
        assert [(t.name, t.due_at) for t in timers] == [("t1", at(10))]

    async def test_a_step_saves_the_instance_its_history_and_timers_or_nothing(
        self, store: Store, other_store: Store
    ) -> None:
        async with store.transaction() as tx:
            await tx.saga_start(saga(), StepWrites(step("inst-order-1", "s1"), (), (
                timer("old", at(10), "inst-order-1"), timer("kept", at(20), "inst-order-1"),
            )))
            loaded = await tx.saga_get("inst-order-1")
        assert loaded is not None
        loaded.state, loaded.data = "s2", {"paid": True}
        moved = StepWrites(step("inst-order-1", "s2"), ("old", "unknown"), (
            timer("new", at(5), "inst-order-1", attempt=1),
        ))
        async with other_store.transaction() as tx:
            saved = await tx.saga_step(loaded, moved)
        assert (saved.row_version, loaded.row_version) == (1, 0) and saved.updated_at is not None
        stale = StepWrites(
            step("inst-order-1", "s3"), ("kept",), (timer("x", at(1), "inst-order-1"),)
        )
        with pytest.raises(ConcurrencyError, match="row_version 1, not 0"):
            async with store.transaction() as tx:
                await tx.saga_step(loaded, stale)
        with pytest.raises(ConcurrencyError, match="does not exist"):
            async with store.transaction() as tx:
                await tx.saga_step(saga("order-9"), stale)
        async with store.transaction() as tx:
            got = await tx.saga_get("inst-order-1")
            history = await tx.history("inst-order-1")
            timers = await tx.timers_of("inst-order-1")
        assert got == saved and (got.state, got.data) == ("s2", {"paid": True})
        assert [(h.seq, h.to_state) for h in history] == [(1, "s1"), (2, "s2")]
        assert [(t.name, t.due_at, t.payload) for t in timers] == [
            ("new", at(5), {"attempt": 1}), ("kept", at(20), {}),
        ]

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

    async def test_a_step_cancels_and_arms_timers_at_once(self, store: Store) -> None:
        async with store.transaction() as tx:
            for name in ("old", "kept", "again"):
                await tx.timer_arm(timer(name, at(10)))
            await tx.timer_arm(timer("other", at(10), instance_id="inst-2"))
            await tx.timers_set(
                "inst-1", ["old", "unknown"],
                [timer("again", at(50), attempt=2), timer("new-1", at(40)), timer("new-2", at(5))],
            )
            await tx.timers_set("inst-1", [], [])
        async with store.transaction() as tx:
            timers = await tx.timers_of("inst-1")
            assert [(t.name, t.due_at, t.payload) for t in timers] == [
                ("new-2", at(5), {}),
                ("kept", at(10), {}),
                ("new-1", at(40), {}),
                ("again", at(50), {"attempt": 2}),
            ]
            assert [t.name for t in await tx.timers_of("inst-2")] == ["other"]
            await tx.timers_set("inst-1", ["kept", "new-1", "new-2", "again"], [])
            assert await tx.timers_of("inst-1") == []

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
