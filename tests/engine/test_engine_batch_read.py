"""The saga endpoint reads a batch's instances in one statement (`prepare`) before the
pipeline hands it the batch's deliveries, on both stores: a delivery after another one
of the same batch for the same instance sees what that one wrote, and what a batch read
is never used in another transaction (a delivery retried on its own)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import structlog
from engine_contracts import EtParcelRegistered, EtParcelWeighed

from bus.store import open_store
from bus.store.base import SagaRecord, Transaction
from bus.unitofwork.endpoint import BatchReader, HandlerContext
from bus.wire.contracts import Message
from bus.wire.envelope import Envelope
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.wiring import saga_runtime

REWEIGHING = """
saga: parcel_weighing
version: 1
description: Weighs a parcel twice, adding up the weights.
start:
  on: EtParcelRegistered
  set:
    parcel_id: ${ event.parcel_id }
correlate: parcel_id
initial: weighing
states:
  weighing:
    on:
      EtParcelWeighed:
        set:
          grams: ${ event.kilos * 1000.0 }
        goto: reweighing
  reweighing:
    on:
      EtParcelWeighed:
        set:
          grams: ${ saga.grams + event.kilos * 1000.0 }
        goto: weighed
  weighed:
    end: success
"""


@pytest.fixture
def weighing(tmp_path: Path) -> SagaEndpoint:
    (tmp_path / "sagas").mkdir()
    (tmp_path / "sagas" / "parcel_weighing.yaml").write_text(REWEIGHING)
    (endpoint,) = saga_runtime(tmp_path / "sagas").endpoints
    assert isinstance(endpoint, BatchReader)
    return endpoint


Batch = tuple[Sequence[Message], str]
"""A batch's messages and how it runs: "prepared" (`prepare` first, as the pipeline
runs a batch), "alone" (each delivery on its own, not prepared) or "read only"
(`prepare`, then the batch fails before its first delivery is handled)."""


async def handle_all(endpoint: SagaEndpoint, tx: Transaction, batch: Batch) -> None:
    """As the pipeline handles a batch, in one transaction."""
    messages, how = batch
    envelopes = [Envelope.of(message) for message in messages]
    if how != "alone":
        await endpoint.prepare(tx, envelopes)
    if how == "read only":
        return
    for envelope, message in zip(envelopes, messages, strict=True):
        ctx = HandlerContext(
            endpoint=endpoint.name, tx=tx, message=envelope, contract=message,
            log=structlog.get_logger("test"),
        )
        await endpoint.handle(envelope, ctx)


async def run(store_url: str, endpoint: SagaEndpoint, *batches: Batch) -> SagaRecord:
    """Each batch in a transaction of its own; returns parcel p1's instance after them."""
    async with open_store(store_url) as store:
        for batch in batches:
            async with store.transaction() as tx:
                await handle_all(endpoint, tx, batch)
        async with store.transaction() as tx:
            record = await tx.saga_find("parcel_weighing", "p1")
            assert record is not None
            history = await tx.history(record.id)
    assert len(history) == 1 + record.row_version
    return record


REGISTERED = EtParcelRegistered(parcel_id="p1")


def weighed(kilos: float) -> EtParcelWeighed:
    return EtParcelWeighed(parcel_id="p1", kilos=kilos)


async def test_a_delivery_sees_what_an_earlier_one_of_its_batch_started(
    store_url: str, weighing: SagaEndpoint
) -> None:
    record = await run(store_url, weighing, ([REGISTERED, weighed(2.0)], "prepared"))
    assert (record.state, record.data["grams"], record.row_version) == ("reweighing", 2000.0, 1)


async def test_a_delivery_sees_what_an_earlier_one_of_its_batch_stepped(
    store_url: str, weighing: SagaEndpoint
) -> None:
    # the second weighing steps the instance as the first left it (not as read: a
    # stale version, ConcurrencyError)
    record = await run(
        store_url, weighing, ([REGISTERED], "prepared"), ([weighed(2.0), weighed(3.0)], "prepared")
    )
    assert (record.state, record.data["grams"], record.row_version) == ("weighed", 5000.0, 2)


async def test_what_a_batch_read_is_not_used_in_another_transaction(
    store_url: str, weighing: SagaEndpoint
) -> None:
    # after the failed batch its deliveries run alone: the second must not step the
    # instance as the failed batch read it (from weighing again: a ConcurrencyError)
    record = await run(
        store_url, weighing, ([REGISTERED], "prepared"), ([weighed(1.0)], "read only"),
        ([weighed(2.0)], "alone"), ([weighed(3.0)], "alone"),
    )
    assert (record.state, record.data["grams"], record.row_version) == ("weighed", 5000.0, 2)
