"""Bad input to a running daemon, and bad saga files at start-up: each gives a clear log
line or error, loses nothing, and the daemon keeps serving the other instances."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from engine_contracts import EtParcelRegistered, EtParcelWeighed
from engine_support import (
    APPROVED,
    COMPLETED,
    HERE,
    Daemon,
    Eventually,
    Order,
    all_finished,
    assert_outcomes,
    dead_letters,
    deliver,
    history,
    instances,
    order_endpoints,
    order_saga,
    place,
    side_effects,
    topology_of,
)
from support.broker import TestBroker

import handlers.messages as m
from bus.errors import ConfigurationError
from bus.settings import Settings
from bus.store import SagaRecord, Store
from bus.unitofwork.endpoint import Endpoint
from bus.wire.client import BusClient
from bus.wire.contracts import Message
from bus.wire.envelope import Envelope, utcnow
from saga_dsl.engine.endpoint import DefinitionNotLoaded, SagaEndpoint
from saga_dsl.engine.versions import InvalidSagas
from saga_dsl.engine.wiring import saga_runtime

pytestmark = pytest.mark.integration

TEST_SAGAS = HERE / "sagas"


@pytest.fixture
async def daemon(
    broker: TestBroker, settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Daemon, list[Endpoint]]]:
    """A daemon serving the order saga and the parcel saga (`sagas/parcels`)."""
    sagas = order_saga(tmp_path / "sagas")
    shutil.copytree(TEST_SAGAS / "parcels", sagas, dirs_exist_ok=True)
    endpoints = order_endpoints(sagas)[0]
    broker.track(topology_of(settings, endpoints))
    running = Daemon(settings, sagas, tmp_path / "daemon.log")
    try:
        yield await running.start(), endpoints
        assert await running.stop() == 0, running.log.read_text()[-3000:]
    finally:
        running.ensure_dead()
    assert await dead_letters(settings, endpoints) == {}, "nothing may be dead-lettered"


async def record_of(store: Store, saga: str, correlation: str) -> SagaRecord | None:
    async with store.transaction() as tx:
        return await tx.saga_find(saga, correlation)


async def test_event_for_no_instance_is_logged_and_the_daemon_serves_on(
    daemon: tuple[Daemon, list[Endpoint]], settings: Settings, store: Store, eventually: Eventually
) -> None:
    running, _ = daemon
    async with BusClient(settings) as client:
        await client.publish(m.PaymentSucceeded(order_id="ghost-1", payment_id="p", amount=1.0))
    await eventually(
        lambda: [line for line in running.lines("event for no instance of this saga: ignored")
                 if '"correlate":"ghost-1"' in line],
        20, what="the ignored event logged",
    )
    assert await instances(store) == {}
    orders = [Order("after-ghost", COMPLETED)]
    await place(settings, orders)
    records = await all_finished(store, settings, orders, 30, watch=running.process)
    assert_outcomes(orders, records, await side_effects(store))


async def test_event_the_state_does_not_accept_leaves_the_instance_unchanged(
    daemon: tuple[Daemon, list[Endpoint]], settings: Settings, store: Store, eventually: Eventually
) -> None:
    running, _ = daemon
    order = Order("reviewed-1", APPROVED)
    await place(settings, [order])

    async def waiting_for_review() -> SagaRecord | None:
        record = await record_of(store, "order_processing", order.order_id)
        return record if record is not None and record.state == "manual_review" else None

    before = await eventually(waiting_for_review, 20)
    steps = await history(store, before)
    async with BusClient(settings) as client:
        await client.publish(m.InventoryReserved(order_id=order.order_id))
    await eventually(
        lambda: [line for line in running.lines("event not accepted in this state: ignored")
                 if before.id in line and '"state":"manual_review"' in line],
        20, what="the refused event logged",
    )
    after = await record_of(store, "order_processing", order.order_id)
    assert after is not None
    assert (after.state, after.status, after.data, after.machine, after.row_version) == (
        before.state, before.status, before.data, before.machine, before.row_version
    )
    assert await history(store, after) == steps
    # and it goes on as if nothing had come
    records = await all_finished(store, settings, [order], 30, watch=running.process)
    assert_outcomes([order], records, await side_effects(store))


async def test_unreadable_payload_parks_the_instance_with_the_reason(
    daemon: tuple[Daemon, list[Endpoint]], settings: Settings, store: Store, eventually: Eventually
) -> None:
    running, _ = daemon
    async with BusClient(settings) as client:
        for parcel in ("p-bad", "p-good"):
            await client.publish(EtParcelRegistered(parcel_id=parcel))

        async def both_weighing() -> bool:
            records = [await record_of(store, "parcel_weighing", p) for p in ("p-bad", "p-good")]
            return all(r is not None and r.state == "weighing" for r in records)

        await eventually(both_weighing, 20)
        await client.publish(EtParcelWeighed(parcel_id="p-bad"))
        await client.publish(EtParcelWeighed(parcel_id="p-good", kilos=2.5))

    async def ended(parcel: str) -> SagaRecord | None:
        record = await record_of(store, "parcel_weighing", parcel)
        return record if record is not None and record.status != "running" else None

    bad = await eventually(lambda: ended("p-bad"), 20)
    good = await eventually(lambda: ended("p-good"), 20)
    assert (bad.status, bad.state) == ("parked", "weighing")
    assert bad.reason is not None
    assert bad.reason.startswith("in state 'weighing': 'event.kilos * 1000.0'"), bad.reason
    assert "grams" not in bad.data
    [parked] = [s for s in await history(store, bad) if s.input == "EtParcelWeighed"]
    assert parked.effects == [{"effect": "parked", "reason": bad.reason}]
    assert running.lines('"saga parked"')
    assert (good.status, good.state, good.data["grams"]) == ("completed", "weighed", 2500.0)
    async with store.transaction() as tx:
        assert [r.correlation for r in await tx.saga_list(status="parked")] == ["p-bad"]


def test_invalid_saga_file_is_refused_with_file_line_col_messages() -> None:
    with pytest.raises(InvalidSagas) as refused:
        saga_runtime(TEST_SAGAS / "invalid")
    lines = str(refused.value).splitlines()
    assert lines == [
        f"{TEST_SAGAS / 'invalid' / 'parcel_typo.yaml'}:12:31: error: goto 'weighted': "
        "no such state; did you mean 'weighed'?"
    ]
    assert re.match(r"^.+\.yaml:\d+:\d+: error: ", lines[0])


async def test_changed_file_with_unchanged_version_is_refused(
    store: Store, tmp_path: Path
) -> None:
    sagas = tmp_path / "sagas"
    shutil.copytree(TEST_SAGAS / "parcels", sagas)
    await saga_runtime(sagas).pin(store)
    await saga_runtime(sagas).pin(store)  # the same file again: fine
    saga = sagas / "parcel_weighing.yaml"
    saga.write_text(saga.read_text().replace("kilos * 1000.0", "kilos * 1000.0 + 1.0"))
    with pytest.raises(ConfigurationError) as refused:
        await saga_runtime(sagas).pin(store)
    assert str(refused.value) == (
        "saga 'parcel_weighing' changed but its version is still 1: bump `version:` in its "
        "file so running instances keep the definition they started on"
    )
    saga.write_text(saga.read_text().replace("version: 1", "version: 2"))
    await saga_runtime(sagas).pin(store)


async def handle(endpoint: SagaEndpoint, store: Store, message: Message) -> list[Envelope]:
    """`message` through the saga endpoint in a unit of work of its own."""
    async with store.transaction() as tx:
        return await deliver(tx, endpoint, message)


async def test_message_its_contract_refuses_parks_the_instance_where_it_was(
    store: Store,
) -> None:
    [endpoint] = saga_runtime(TEST_SAGAS / "labels").endpoints
    for parcel in ("p-light", "p-negative"):
        await handle(endpoint, store, EtParcelRegistered(parcel_id=parcel))
    [label] = await handle(endpoint, store, EtParcelWeighed(parcel_id="p-light", kilos=0.5))
    assert (label.type, label.payload) == ("EtLabelParcel", {"parcel_id": "p-light",
                                                              "grams": 500.0})

    assert await handle(endpoint, store, EtParcelWeighed(parcel_id="p-negative", kilos=-1)) == []
    record = await record_of(store, "parcel_labelling", "p-negative")
    assert record is not None
    assert (record.status, record.state) == ("parked", "weighing")
    assert record.data == {"parcel_id": "p-negative"}
    assert record.reason is not None
    assert record.reason.startswith("cannot send from state 'labelled': EtLabelParcel: grams:")
    async with store.transaction() as tx:
        assert await tx.timers_of(record.id) == []
    last = (await history(store, record))[-1]
    assert (last.input, last.from_state, last.to_state) == ("EtParcelWeighed", "weighing",
                                                            "weighing")
    assert last.effects == [
        {"effect": "cancel_timer", "name": "timeout:weighing:1"},
        {"effect": "parked", "reason": record.reason},
    ]


async def test_instance_on_a_version_no_longer_loaded_is_reported_not_run(
    store: Store, tmp_path: Path
) -> None:
    sagas = tmp_path / "sagas"
    shutil.copytree(TEST_SAGAS / "labels", sagas)
    [v1] = saga_runtime(sagas).endpoints
    for parcel in ("p-done", "p-open"):
        await handle(v1, store, EtParcelRegistered(parcel_id=parcel))
    await handle(v1, store, EtParcelWeighed(parcel_id="p-done", kilos=1))
    saga = sagas / "parcel_labelling.yaml"
    saga.write_text(saga.read_text().replace("version: 1", "version: 2")
                    .replace("after: 1h", "after: 2h"))
    v2 = saga_runtime(sagas)
    [endpoint] = v2.endpoints

    # a finished instance ignores a late event whatever its version
    done = await record_of(store, "parcel_labelling", "p-done")
    assert await handle(endpoint, store, EtParcelWeighed(parcel_id="p-done", kilos=3)) == []
    assert await record_of(store, "parcel_labelling", "p-done") == done

    # a running one is not run on a definition it did not start on
    running = await record_of(store, "parcel_labelling", "p-open")
    assert running is not None
    with pytest.raises(DefinitionNotLoaded, match=r"runs on version 1, but version 2 is loaded"):
        await handle(endpoint, store, EtParcelWeighed(parcel_id="p-open", kilos=1))
    later = utcnow() + timedelta(hours=3)
    assert await v2.scheduler.fire_due(store, later) == 1  # postponed, not fired
    assert await record_of(store, "parcel_labelling", "p-open") == running
    async with store.transaction() as tx:
        [timer] = await tx.timers_of(running.id)
    assert timer.name == "timeout:weighing:1" and timer.due_at > later
