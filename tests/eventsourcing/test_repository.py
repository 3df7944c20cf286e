"""Repositories on both backends: save and load, concurrency, snapshots, upcasting,
time travel."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bus.eventsourcing import Aggregate, Repository, StreamConflict, UnreadableEvent, applies
from bus.store import Store
from bus.store.base import NewEvent
from bus.wire.contracts import Event, registry
from handlers.messages import OrderItem
from handlers.orders import OrderAggregate

from .domain import SnapshottedTally, Tally


class SnapshottedOrder(OrderAggregate):
    category = "sorder"
    snapshot_every = 2


# -- upcasting: version 1 weighed in kilos, version 2 in grams ---------------------------
class ParcelWeighed(Event):
    __version__ = 2
    parcel_id: str
    grams: int


@registry.upcaster("ParcelWeighed", 1)
def _kilos_to_grams(payload: dict[str, Any]) -> dict[str, Any]:
    return {"parcel_id": payload["parcel_id"], "grams": round(payload["kilos"] * 1000)}


class ParcelState(BaseModel):
    weighings: list[int] = []


class Parcel(Aggregate[ParcelState]):
    category = "parcel"

    def initial_state(self) -> ParcelState:
        return ParcelState()

    @applies(ParcelWeighed)
    def _weighed(self, event: ParcelWeighed) -> None:
        self.state.weighings.append(event.grams)


async def _tally(
    store: Store, aggregate: type[Tally], additions: int, *, one_by_one: bool = False
) -> None:
    async with store.transaction() as tx:
        repository = Repository(aggregate, tx)
        tally = await repository.load("t1")
        tally.open("ann")
        for n in range(1, additions + 1):
            if one_by_one:
                await repository.save(tally)
            tally.add(n)
        await repository.save(tally)


async def test_saved_aggregate_loads_back_with_its_state_and_version(store: Store) -> None:
    await _tally(store, Tally, 3)
    async with store.transaction() as tx:
        repository = Repository(Tally, tx)
        tally = await repository.load("t1")
        assert (tally.version, tally.state.total, tally.state.additions) == (4, 6, 3)
        tally.add(10)
        await repository.save(tally)
        assert tally.version == 5
        assert await repository.save(tally) == []
    async with store.transaction() as tx:
        assert (await Repository(Tally, tx).load("t1")).state.total == 16


async def test_a_missing_stream_loads_as_a_new_aggregate(store: Store) -> None:
    async with store.transaction() as tx:
        tally = await Repository(Tally, tx).load("nobody")
    assert tally.version == 0 and not tally.exists and not tally.state.opened


async def test_saving_an_aggregate_loaded_before_another_save_conflicts(store: Store) -> None:
    await _tally(store, Tally, 1)
    async with store.transaction() as tx:
        first = await Repository(Tally, tx).load("t1")
    async with store.transaction() as tx:
        second = await Repository(Tally, tx).load("t1")
    first.add(5)
    second.add(7)
    async with store.transaction() as tx:
        await Repository(Tally, tx).save(first)
    with pytest.raises(StreamConflict, match="is at version 3, not the expected 2"):
        async with store.transaction() as tx:
            await Repository(Tally, tx).save(second)
    assert second.version == 2 and len(second.pending) == 1
    async with store.transaction() as tx:
        tally = await Repository(Tally, tx).load("t1")
        assert tally.state.total == 6
        assert await tx.outbox_backlog() == 3


async def test_snapshots_are_taken_every_n_events_and_used_on_load(store: Store) -> None:
    await _tally(store, SnapshottedTally, 24, one_by_one=True)  # snapshots at 10 and 20
    async with store.transaction() as tx:
        assert [
            (await tx.snapshot_load("stally-t1", at_most=v) or (0,))[0] for v in (9, 19, 25)
        ] == [0, 10, 20]
        tally = await Repository(SnapshottedTally, tx).load("t1")
        events = await Repository(Tally, tx).events.read("stally-t1")
    plain = Tally.from_events("t1", [r.event for r in events])
    assert tally.version == 25 and tally.replayed == 5
    assert tally.state == plain.state
    async with store.transaction() as tx:
        older = await Repository(SnapshottedTally, tx).load("t1", as_of=15)
    assert older.version == 15 and older.replayed == 5 and older.state.additions == 14


async def test_a_save_that_crosses_a_multiple_snapshots_at_its_new_version(store: Store) -> None:
    await _tally(store, SnapshottedTally, 24)
    async with store.transaction() as tx:
        assert (await tx.snapshot_load("stally-t1") or (0,))[0] == 25
        tally = await Repository(SnapshottedTally, tx).load("t1")
    assert tally.version == 25 and tally.replayed == 0 and tally.state.total == 300


async def test_a_snapshot_of_an_old_state_schema_is_ignored(store: Store) -> None:
    await _tally(store, SnapshottedTally, 11)
    async with store.transaction() as tx:
        await tx.snapshot_save("stally-t1", 12, {"schema": 0, "state": {"total": -1}})
        tally = await Repository(SnapshottedTally, tx).load("t1")
    assert tally.replayed == 12 and tally.state.total == sum(range(1, 12))


async def test_events_written_as_v1_read_back_as_v2_through_the_aggregate(store: Store) -> None:
    async with store.transaction() as tx:
        # written by an older release, whose ParcelWeighed was version 1, in kilos
        await tx.events_append(
            "parcel-p1",
            [
                NewEvent(
                    type="ParcelWeighed",
                    payload={"parcel_id": "p1", "kilos": 1.25},
                    schema_version=1,
                ),
                NewEvent(
                    type="ParcelWeighed",
                    payload={"parcel_id": "p1", "kilos": 0.5},
                    schema_version=1,
                ),
            ],
            0,
        )
    async with store.transaction() as tx:
        repository = Repository(Parcel, tx)
        parcel = await repository.load("p1")
        assert parcel.state.weighings == [1250, 500]
        parcel.record(ParcelWeighed(parcel_id="p1", grams=700))
        await repository.save(parcel)
    async with store.transaction() as tx:
        recorded = await Repository(Parcel, tx).events.read("parcel-p1")
        assert [r.schema_version for r in recorded] == [1, 1, 2]
        assert [r.event for r in recorded] == [
            ParcelWeighed(parcel_id="p1", grams=g) for g in (1250, 500, 700)
        ]
        assert (await Repository(Parcel, tx).load("p1")).state.weighings == [1250, 500, 700]


async def test_a_v1_event_the_upcaster_cannot_convert_is_unreadable(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.events_append(
            "parcel-p2",
            [NewEvent(type="ParcelWeighed", payload={"parcel_id": "p2"}, schema_version=1)],
            0,
        )
    async with store.transaction() as tx:
        with pytest.raises(UnreadableEvent, match="upcasting ParcelWeighed from version 1 failed"):
            await Repository(Parcel, tx).load("p2")


@pytest.mark.parametrize("aggregate", [OrderAggregate, SnapshottedOrder])
async def test_as_of_every_version_of_an_order_reproduces_every_past_state(
    store: Store, aggregate: type[OrderAggregate]
) -> None:
    steps = [
        lambda o: o.create("cust-1", [OrderItem(sku="A-1", quantity=2, unit_price=7.5)], 15.0),
        lambda o: o.pay("pay-1", 15.0),
        lambda o: o.ship("TRK-1"),
        lambda o: o.complete(),
    ]
    states = [aggregate("o1").state.model_dump()]
    stamps = []
    for step in steps:
        async with store.transaction() as tx:
            repository = Repository(aggregate, tx)
            order = await repository.load("o1")
            step(order)
            [recorded] = await repository.save(order)
        states.append(order.state.model_dump())
        stamps.append(recorded.recorded_at)
    assert [s["status"] for s in states] == ["new", "pending", "paid", "shipped", "completed"]
    async with store.transaction() as tx:
        repository = Repository(aggregate, tx)
        for version, state in enumerate(states):
            past = await repository.load("o1", as_of=version)
            assert (past.version, past.state.model_dump()) == (version, state)
        for version, stamp in enumerate(stamps, start=1):
            past = await repository.load("o1", as_of=stamp)
            assert (past.version, past.state.model_dump()) == (version, states[version])
        assert (await repository.load("o1")).state.model_dump() == states[-1]
