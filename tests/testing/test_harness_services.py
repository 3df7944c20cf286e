"""The harness runs services on the in-memory bus and records what moved: what was sent,
published and consumed, faults, dead letters and parked commands, read as records. The
bus behaviour itself (duplicates, retries, dead-letter headers, poison, unroutable) is
checked once for both transports in `tests/bus/test_bus_behaviour.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support.ledger_services import (
    AUDIT,
    LEDGER,
    BtCharge,
    BtCharged,
    BtNobodyHandlesThis,
    DeclinedCard,
    audit,
    ledger,
)

from bus import HandlerContext, Service, Settings, Unroutable, open_store
from bus.testing import BusHarness
from handlers.messages import PaymentSucceeded, ProcessPayment
from handlers.payments import CHARGES, payments


@pytest.fixture
async def harness() -> AsyncIterator[BusHarness]:
    async with BusHarness(services=[ledger, audit]) as h:
        yield h


async def test_command_round_trip_publishes_the_reply_in_the_same_conversation() -> None:
    async with BusHarness(services=[payments]) as h:
        sent = await h.send(ProcessPayment(order_id="o-1", amount=12.5), correlation_id="c-1")
        await h.wait_idle()
        [paid] = h.published_of(PaymentSucceeded)
        assert (paid.order_id, paid.amount) == ("o-1", 12.5)
        [reply] = h.published
        assert reply.correlation_id == "c-1"
        assert reply.causation_id == sent.message_id
        assert [e.message_id for e in h.consumed] == [sent.message_id]
        assert h.consumed_of(ProcessPayment) == [ProcessPayment(order_id="o-1", amount=12.5)]
        charge = await h.state(CHARGES, "o-1")
        assert charge is not None and charge["payment_id"] == paid.payment_id


async def test_an_event_reaches_its_subscriber_by_choreography(harness: BusHarness) -> None:
    await harness.send(BtCharge(charge_id="d-1", amount=5))
    await harness.send(BtCharge(charge_id="d-1", amount=7))
    await harness.wait_idle()
    assert [e.type for e in harness.consumed_by(AUDIT)] == ["BtCharged", "BtCharged"]
    assert [e.payload["amount"] for e in harness.consumed_by(AUDIT)] == [5.0, 7.0]
    assert (await harness.state(AUDIT, "d-1") or {})["count"] == 2


async def test_dispatch_sends_a_duplicate_that_the_record_shows_but_the_inbox_drops(
    harness: BusHarness,
) -> None:
    sent = await harness.send(BtCharge(charge_id="d-1"))
    await harness.wait_idle()
    await harness.dispatch(sent)  # the same message_id again
    await harness.wait_idle()
    assert [e.message_id for e in harness.sent] == [sent.message_id, sent.message_id]
    assert len(harness.consumed_of(BtCharge)) == 1


async def test_retries_are_recorded_as_faults_and_go_through_the_delay_tiers(
    harness: BusHarness,
) -> None:
    await harness.send(BtCharge(charge_id="d-1", fail_times=2))
    await harness.wait_idle()
    assert [type(f.error) for f in harness.faults] == [DeclinedCard, DeclinedCard]
    assert harness.published_of(BtCharged) == [BtCharged(charge_id="d-1", amount=1.0)]
    tiers = [r.publication.routing_key for r in harness.broker.journal
             if ".retry." in r.publication.routing_key]
    assert tiers == ["ledger.retry.200ms", "ledger.retry.300ms"]
    assert harness.dead_letters == []


async def test_retry_delays_are_waited_out_when_not_skipped() -> None:
    loop = asyncio.get_running_loop()
    async with BusHarness(services=[ledger], skip_delays=False) as h:
        started = loop.time()
        await h.send(BtCharge(charge_id="d-1", fail_times=2))
        await h.wait_idle(within=5)
        assert loop.time() - started >= 0.5  # 200ms, then 300ms
        assert await h.state(LEDGER, "d-1") == {"count": 1, "runs": 3}


async def test_dead_letters_are_read_as_dead_letter_records(harness: BusHarness) -> None:
    sent = await harness.send(BtCharge(charge_id="d-1", always_fail=True))
    await harness.wait_idle()
    assert len(harness.faults) == 3
    assert harness.consumed == []
    [dead] = harness.dead_letters
    assert (dead.queue, dead.message_id, dead.attempts) == ("ledger.dlq", sent.message_id, 3)
    assert dead.reason.startswith("failed 3 attempt(s): DeclinedCard: card declined for d-1")
    assert dead.exception_type == "support.ledger_services.DeclinedCard"
    assert dead.envelope().payload["charge_id"] == "d-1"


async def test_a_send_refused_as_unroutable_is_not_recorded(harness: BusHarness) -> None:
    with pytest.raises(Unroutable, match="BtNobodyHandlesThis"):
        await harness.send(BtNobodyHandlesThis(charge_id="d-1"))
    assert harness.sent == []


async def test_parked_commands_are_read_from_unroutable(harness: BusHarness) -> None:
    await harness.send(BtCharge(charge_id="d-1", then_send_unhandled=True))
    await harness.wait_idle()
    [parked] = harness.unroutable
    assert parked.type == "BtNobodyHandlesThis"
    assert parked.reason.startswith("unroutable: no queue is bound for BtNobodyHandlesThis")
    assert [e.type for e in harness.sent] == ["BtCharge"]
    assert harness.published_of(BtCharged) == [BtCharged(charge_id="d-1", amount=1.0)]


async def test_wait_idle_names_what_is_still_in_flight_when_it_gives_up() -> None:
    release = asyncio.Event()
    slow = Service("slow")

    @slow.handles(BtCharge)
    async def stall(cmd: BtCharge, ctx: HandlerContext) -> None:
        await release.wait()

    async with BusHarness(services=[slow]) as h:
        await h.send(BtCharge(charge_id="d-1"))
        with pytest.raises(TimeoutError, match=r"not idle within 0.2s: slow: 0 ready, 1 unacked"):
            await h.wait_idle(within=0.2)
        release.set()
        await h.wait_idle()
        assert len(h.consumed) == 1


async def test_clear_forgets_the_record_but_not_the_dead_letters(harness: BusHarness) -> None:
    await harness.send(BtCharge(charge_id="d-1", always_fail=True))
    await harness.wait_idle()
    harness.clear()
    assert (harness.sent, harness.published, harness.consumed, harness.faults) == ([], [], [], [])
    assert len(harness.dead_letters) == 1
    await harness.send(BtCharge(charge_id="d-2"))
    await harness.wait_idle()
    assert [e.payload["charge_id"] for e in harness.sent] == ["d-2"]


async def test_a_store_of_your_own_stays_open_after_the_harness() -> None:
    async with open_store("sqlite:///:memory:") as store:
        async with BusHarness(services=[ledger], store=store) as h:
            await h.send(BtCharge(charge_id="d-1"))
            await h.wait_idle()
            assert h.store is store
        async with store.transaction() as tx:
            assert await tx.state_get(LEDGER, "d-1") == {"count": 1, "runs": 1}


async def test_the_record_outlives_the_harness() -> None:
    async with BusHarness(services=[ledger]) as h:
        await h.send(BtCharge(charge_id="d-1", always_fail=True))
        await h.wait_idle()
    assert [e.type for e in h.sent] == ["BtCharge"]
    assert len(h.faults) == 3
    assert [d.queue for d in h.dead_letters] == ["ledger.dlq"]


async def test_a_namespace_of_the_settings_names_every_queue() -> None:
    async with BusHarness(services=[ledger], settings=Settings(namespace="shop")) as h:
        await h.send(BtCharge(charge_id="d-1", always_fail=True))
        await h.wait_idle()
        assert [d.queue for d in h.dead_letters] == ["shop.ledger.dlq"]
        assert "shop.ledger.retry.200ms" in h.broker.queue_names()


def test_a_single_service_where_a_list_belongs_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="services takes a list of endpoints"):
        BusHarness(services=ledger)  # type: ignore[arg-type]


async def test_a_misspelt_send_option_is_refused_not_sent_at_once() -> None:
    refused: list[str] = []
    typos = Service("typos")

    @typos.handles(ProcessPayment)
    async def resend(cmd: ProcessPayment, ctx: HandlerContext) -> None:
        try:
            ctx.send(cmd, dealy=30)  # type: ignore[call-arg]
        except TypeError as exc:
            refused.append(str(exc))

    async with BusHarness(services=[typos]) as h:
        with pytest.raises(TypeError, match="delay"):
            await h.send(ProcessPayment(order_id="o-1", amount=1.0), delay=30)  # type: ignore[call-arg]
        await h.send(ProcessPayment(order_id="o-2", amount=1.0))
        await h.wait_idle()
    assert refused == ["unexpected keyword argument(s): dealy"]
    assert [e.type for e in h.consumed] == ["ProcessPayment"]
