"""`sagabus dlq` finds every dead-letter queue of a namespace, not only those of the
services it was told about: a runtime records the DLQs it declares, and the tooling
reads that record (plain AMQP, no management API)."""

from __future__ import annotations

import uuid

import pytest
from live_services import AMQP_URL
from reliability_support import sagabus, words
from support.broker import TestBroker
from support.buses import BusFactory

from bus import BusClient, HandlerContext, RetryPolicy, Service
from bus.deadletters.operations import DeadLetterQueues
from bus.deadletters.registry import recorded
from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.runtime import Bus
from bus.wire.contracts import Command
from bus.wire.topology import Names

pytestmark = pytest.mark.integration


class BoomerDetonate(Command):
    fuse: str


boomer = Service("boomer", retry=RetryPolicy(attempts=1, delays=[]))


@boomer.handles(BoomerDetonate)
async def detonate(cmd: BoomerDetonate, ctx: HandlerContext) -> None:
    raise RuntimeError(f"boom on {cmd.fuse}")


@pytest.fixture
def namespace() -> str:
    """`x` as in the report, made unique: tests share the broker."""
    return f"x{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def bus(make_bus: BusFactory) -> Bus:
    return await make_bus([boomer])


async def test_dlq_list_finds_the_dead_letters_of_a_service_it_does_not_know(
    bus: Bus, broker: TestBroker, settings: Settings, names: Names, eventually
) -> None:
    dlq = names.dlq(names.queue("boomer"))
    assert await recorded(broker.transport, names) == [dlq]
    async with BusClient(settings) as client:
        sent = await client.send(BoomerDetonate(fuse="f-1"))

    async def dead() -> int | None:
        async with DeadLetterQueues(AMQP_URL) as box:
            return await box.depth(dlq)

    assert await eventually(dead, what="the detonation dead-lettered") == 1
    cli = ("--namespace", names.namespace, "--amqp-url", AMQP_URL)
    listed = await sagabus("dlq", "list", *cli)
    assert listed.code == 0, listed.err
    assert f"{dlq}: 1" in listed.out, listed.out
    assert all(text in words(listed.out) for text in (sent.message_id, "BoomerDetonate"))

    shown = await sagabus("dlq", "show", sent.message_id, *cli)
    assert shown.code == 0 and "boom on f-1" in shown.out, shown.err

    purged = await sagabus("dlq", "purge", "--yes", *cli)
    assert purged.code == 0 and f"purged 1 from {dlq}" in purged.out, purged.err


async def test_a_restart_records_nothing_new(
    bus: Bus, broker: TestBroker, settings: Settings, store: Store, names: Names
) -> None:
    registry = f"{names.namespace}.dead-letter-queues"
    assert await broker.transport.depth(registry) == 1
    async with Bus(settings, store, [boomer]):
        pass
    assert await broker.transport.depth(registry) == 1

