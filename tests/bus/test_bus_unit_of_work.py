"""The unit of work around the handler: commit failures, the outbox relay, quorum
queues. Real RabbitMQ, store per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from bus_test_support import backlog, state
from support.broker import TestBroker
from support.forwarding_store import ForwardingStore
from support.ledger_services import LEDGER, BtCharge, BtCharged, ledger

from bus import Bus, BusClient, Envelope, Settings, Store, Transaction, Unroutable
from bus.errors import SagabusError
from bus.unitofwork.retention import purge_once
from bus.wire.topology import Names, QueueSpec, Topology

pytestmark = pytest.mark.integration


class CommitFails(ForwardingStore):
    """A store whose first `failures` transactions that handled something fail at
    commit, as a database that went away would."""

    def __init__(self, inner: Store, failures: int) -> None:
        super().__init__(inner)
        self.failures = failures

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.inner.transaction() as tx:
            yield tx
            if self.failures and await tx.state_list(LEDGER):
                self.failures -= 1
                raise SagabusError("database went away")


async def test_batch_that_fails_to_commit_is_requeued_and_handled_once_later(
    make_bus, settings: Settings, store: Store, eventually
) -> None:
    failing = CommitFails(store, failures=2)
    bus = await make_bus([ledger], store=failing)
    charge_id = uuid.uuid4().hex
    async with BusClient(settings) as client:
        await client.send(BtCharge(charge_id=charge_id))

    assert await eventually(lambda: state(store, LEDGER, charge_id), timeout=15) == {
        "count": 1, "runs": 1
    }
    assert failing.failures == 0
    assert bus.pipelines[0].queue.endswith(".ledger")


async def test_relay_publishes_rows_committed_elsewhere_when_notified(
    make_bus, store: Store, broker: TestBroker, eventually
) -> None:
    probe = await broker.probe(events=["BtCharged"])
    bus = await make_bus([ledger])
    envelope = Envelope.of(BtCharged(charge_id="timer", amount=1), correlation_id="saga-1")
    async with store.transaction() as tx:
        await tx.outbox_add([envelope])
    bus.relay.notify()

    [received] = await eventually(lambda: probe.received, timeout=5)
    assert received.message.message_id == envelope.message_id
    assert received.message.correlation_id == "saga-1"
    await eventually(lambda: backlog(store, 0), timeout=5)


async def test_outbox_left_by_a_previous_run_is_sent_at_start(
    make_bus, store: Store, broker: TestBroker, eventually
) -> None:
    probe = await broker.probe(events=["BtCharged"])
    envelope = Envelope.of(BtCharged(charge_id="left", amount=1))
    async with store.transaction() as tx:
        await tx.outbox_add([envelope])
    await make_bus([ledger])
    [received] = await eventually(lambda: probe.received, timeout=5)
    assert received.message.message_id == envelope.message_id


async def test_quorum_queues_retry_and_deliver(
    make_bus, settings: Settings, store: Store, eventually
) -> None:
    quorum = settings.model_copy(update={"queue_type": "quorum"})
    await make_bus([ledger], settings=quorum)
    charge_id = uuid.uuid4().hex
    async with BusClient(quorum) as client:
        await client.send(BtCharge(charge_id=charge_id, fail_times=1))
    assert await eventually(lambda: state(store, LEDGER, charge_id), timeout=15) == {
        "count": 1, "runs": 2
    }


async def test_background_tasks_get_the_bus_and_are_cancelled_at_stop(
    make_bus, eventually
) -> None:
    seen: list[object] = []
    cancelled = asyncio.Event()

    async def scheduler(bus: Bus) -> None:
        seen.append(bus)
        bus.relay.notify()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    bus = await make_bus([ledger], background=[scheduler])
    await eventually(lambda: seen == [bus])
    await bus.stop()
    assert cancelled.is_set()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
async def test_retention_purges_old_inbox_and_sent_outbox_rows(store: Store) -> None:
    envelope = Envelope.of(BtCharged(charge_id="old", amount=1))
    async with store.transaction() as tx:
        assert await tx.inbox_add("q", "m-old")
        [row] = await tx.outbox_add([envelope])
        await tx.outbox_mark_sent([row])
    assert await purge_once(store, retention=3600) == (0, 0)
    # a negative window puts the cut-off in the future: everything is older than it
    assert await purge_once(store, retention=-1) == (1, 1)
    async with store.transaction() as tx:
        assert await tx.inbox_add("q", "m-old"), "a purged id is not a duplicate any more"


async def test_consumer_whose_queue_was_deleted_declares_it_again_and_resumes(
    make_bus, broker: TestBroker, settings: Settings, store: Store, names: Names, eventually
) -> None:
    await make_bus([ledger])
    await broker.transport.delete(Topology(queues=(QueueSpec(names.queue(LEDGER)),)))
    charge_id = uuid.uuid4().hex

    async with BusClient(settings) as client:

        async def sent() -> bool:
            try:
                await client.send(BtCharge(charge_id=charge_id))
            except Unroutable:
                return False
            return True

        await eventually(sent, timeout=15, interval=0.2, what="queue declared again")
    await eventually(lambda: state(store, LEDGER, charge_id), timeout=10)
