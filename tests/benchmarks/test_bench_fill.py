"""The benchmark's store of waiting instances: the quick fill (one instance through the
store API, copies of its rows for the others) leaves what the store API leaves for
every instance, and the engine and `sagabus status` take the copies as real ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bench.fill import SAGA, SAGAS, asked_about, correlation_of, fill, fill_through_api
from bench.scaling import timed_status
from bus.daemon import import_package
from bus.store import SagaRecord, open_store
from bus.wire.envelope import utcnow
from saga_dsl import EventInput
from saga_dsl.engine.endpoint import instance_id
from saga_dsl.engine.recording import instance_of
from saga_dsl.engine.wiring import saga_runtime

INSTANCES = 7
HISTORY_ROWS = 21  # three each: the two real steps and one more of them


def comparable(record: SagaRecord) -> tuple[object, ...]:
    """What two fills must agree on (`started_by` and the times are each fill's own)."""
    machine = {k: v for k, v in record.machine.items() if k != "started_by"}
    return (record.id, record.saga, record.definition_version, record.correlation,
            record.state, record.status, record.data, machine, record.reason,
            record.row_version)


async def test_the_quick_fill_writes_what_the_store_api_writes(tmp_path: Path) -> None:
    quick, reference = f"sqlite:///{tmp_path / 'quick.db'}", f"sqlite:///{tmp_path / 'api.db'}"
    assert await fill(quick, INSTANCES, HISTORY_ROWS) == asked_about(INSTANCES)
    await fill_through_api(reference, INSTANCES, HISTORY_ROWS)
    message_ids: set[str | None] = set()
    started_by: set[object] = set()
    async with (
        open_store(quick) as copied, open_store(reference) as written,
        copied.transaction() as a, written.transaction() as b,
    ):
        assert await a.saga_count() == await b.saga_count() == [
            (SAGA, "manual_review", INSTANCES)]
        for n in range(INSTANCES):
            key = instance_id(SAGA, correlation_of(n))
            mine, theirs = await a.saga_get(key), await b.saga_get(key)
            assert mine is not None and theirs is not None
            assert comparable(mine) == comparable(theirs)
            assert mine.data["order_id"] == correlation_of(n)
            started_by.add(mine.machine["started_by"])
            timers, expected = await a.timers_of(key), await b.timers_of(key)
            assert [(t.saga, t.name, t.payload) for t in timers] == [
                (t.saga, t.name, t.payload) for t in expected]
            assert timers and all(timedelta(hours=23) < t.due_at - utcnow() <= timedelta(days=1)
                                  for t in timers)
            history, expected_history = await a.history(key), await b.history(key)
            assert len(history) == HISTORY_ROWS // INSTANCES
            assert [(h.seq, h.input, h.from_state, h.to_state, h.effects)
                    for h in history] == [(h.seq, h.input, h.from_state, h.to_state,
                                           h.effects) for h in expected_history]
            message_ids.update(h.message_id for h in history)
        assert await a.timers_due(utcnow()) == []
    assert len(started_by) == INSTANCES  # each instance its own
    assert None not in message_ids and len(message_ids) == INSTANCES * 3


async def test_a_copied_instance_is_found_by_status_and_steps_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'quick.db'}"
    key = await fill(url, INSTANCES, HISTORY_ROWS)
    assert key != instance_id(SAGA, correlation_of(0))  # a copy, not the model
    assert len(await timed_status(url, key, 1)) == 1
    assert len(await timed_status(url, correlation_of(INSTANCES // 2), 1)) == 1
    async with open_store(url) as store, store.transaction() as tx:
        record = await tx.saga_get(key)
    assert record is not None
    import_package("handlers")
    [endpoint] = saga_runtime(SAGAS).endpoints
    step = endpoint.machine.handle(
        instance_of(record), EventInput("OrderReviewApproved", {"order_id": record.correlation},
                                        "review-1"), utcnow())
    assert (step.from_state, step.to_state) == ("manual_review", "reserving_inventory")
