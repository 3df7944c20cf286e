"""Versions side by side: a saga's version 2 deployed beside its version 1 starts new
instances on 2 while every running instance finishes on 1, events and timers alike; a
deployment that strands running instances is refused at start-up."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from engine_contracts import EtParcelRegistered, EtParcelWeighed
from engine_support import HERE, deliver

from bus.errors import ConfigurationError
from bus.store import SagaRecord, Store
from bus.wire.contracts import Message
from bus.wire.envelope import utcnow
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.wiring import saga_runtime

SAGA = "parcel_labelling"


async def handle(endpoint: SagaEndpoint, store: Store, message: Message) -> None:
    async with store.transaction() as tx:
        await deliver(tx, endpoint, message)


async def record_of(store: Store, correlation: str) -> SagaRecord:
    async with store.transaction() as tx:
        record = await tx.saga_find(SAGA, correlation)
    assert record is not None
    return record


async def registered_on_version_1(store: Store, folder: Path, *parcels: str) -> Path:
    """The labelling saga's version 1 copied into `folder`, with an instance running on
    it for each of `parcels`; the copy's sagas folder."""
    sagas = folder / "sagas"
    shutil.copytree(HERE / "sagas" / "labels", sagas)
    [v1] = saga_runtime(sagas).endpoints
    for parcel in parcels:
        await handle(v1, store, EtParcelRegistered(parcel_id=parcel))
    return sagas


def deploy_version_2(sagas: Path, *, keep_version_1: bool) -> None:
    """Version 2 waits 2 h instead of 1 h; version 1 stays as `<saga>@1.yaml`."""
    saga = sagas / f"{SAGA}.yaml"
    text = saga.read_text()
    if keep_version_1:
        (sagas / f"{SAGA}@1.yaml").write_text(text)
    saga.write_text(text.replace("version: 1", "version: 2").replace("after: 1h", "after: 2h"))


async def test_running_instances_finish_on_their_version_and_new_ones_start_on_the_newest(
    store: Store, tmp_path: Path
) -> None:
    sagas = await registered_on_version_1(store, tmp_path, "p-waits", "p-weighed")
    deploy_version_2(sagas, keep_version_1=True)

    both = saga_runtime(sagas)
    await both.pin(store)  # nothing is stranded
    [endpoint] = both.endpoints
    assert (sorted(endpoint.versions), endpoint.machine.version) == ([1, 2], 2)
    await handle(endpoint, store, EtParcelRegistered(parcel_id="p-new"))
    await handle(endpoint, store, EtParcelWeighed(parcel_id="p-weighed", kilos=2))
    # version 1 gives up after 1 h: its instance's timer fires on version 1
    assert await both.scheduler.fire_due(store, utcnow() + timedelta(minutes=90)) == 1

    waits, weighed, new = [await record_of(store, p) for p in ("p-waits", "p-weighed", "p-new")]
    assert (waits.definition_version, waits.state, waits.status) == (1, "abandoned", "failed")
    assert (weighed.definition_version, weighed.state) == (1, "labelled")
    assert (new.definition_version, new.state, new.status) == (2, "weighing", "running")
    async with store.transaction() as tx:
        [timer] = await tx.timers_of(new.id)
    assert timer.due_at - new.created_at > timedelta(minutes=119)  # version 2's wait


async def test_a_deployment_that_strands_running_instances_is_refused_at_start_up(
    store: Store, tmp_path: Path
) -> None:
    sagas = await registered_on_version_1(store, tmp_path, "p-1", "p-2")
    deploy_version_2(sagas, keep_version_1=False)

    with pytest.raises(ConfigurationError) as refused:
        await saga_runtime(sagas).pin(store)
    assert str(refused.value) == (
        "running saga instances on versions that are not loaded (parcel_labelling v1: 2): "
        "deploy each such version's file beside the new one "
        "(e.g. sagas/<saga>@<version>.yaml)"
    )
