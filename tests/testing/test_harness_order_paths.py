"""Every transition and compensation of the order saga through the harness, with the
example services: the paths the services' own rules choose (a big amount, an `OOS-` or
`SLOW-` SKU), and those of a participant that does not answer, which the test provides
by holding back the real payments or inventory service's answers to some commands.

A script token is `@N` (fire the saga timers due within N seconds), an event type (the
test publishes it, as a person or another system would), `+Command` (the service answers
that command from now on), or `late Command` (the command the service held back arrives
after all, through the real handler). Each path states the saga's whole history, every
command sent, and where it ends; the last tests check that the paths together take every
transition of the saga, and that the void rules of payments and inventory hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import handlers.messages as m
from bus import Command, HandlerContext, Service
from bus.store import SagaRecord
from bus.testing import BusHarness
from handlers import inventory as inventory_module
from handlers import payments as payments_module
from handlers.inventory import RESERVATIONS, STOCK
from handlers.orders import orders
from handlers.payments import CHARGES, VOIDS
from handlers.shipping import shipping
from saga_dsl.testing import SagaHarness

SAGAS = Path(__file__).resolve().parents[2] / "sagas"
SAGA = "order_processing"
SMALL, BIG, DECLINED = 25.0, 20_000.0, 60_000.0
CANCEL = "OrderCancellationRequested"
BY_CUSTOMER = "cancelled at the customer's request"

Handler = Callable[[Any, HandlerContext], Awaitable[None]]


class Participant:
    """A real example service whose answers to some commands the test holds back."""

    def __init__(
        self,
        name: str,
        handlers: dict[type[Command], Handler],
        silent: Set[str],
        broken: Set[str] = frozenset(),
    ):
        self.service = Service(name)
        self.silent = set(silent)
        self.broken = set(broken)
        self.held: list[Command] = []
        for contract, real in handlers.items():
            self.service.handles(contract)(self._relay(real))

    def _relay(self, real: Handler) -> Handler:
        async def relay(cmd: Command, ctx: HandlerContext) -> None:
            if type(cmd).message_type() in self.silent:
                self.held.append(cmd)
                return
            if type(cmd).message_type() in self.broken:
                raise RuntimeError("the card processor is down")
            await real(cmd, ctx)

        return relay


@dataclass(frozen=True)
class HarnessPath:
    name: str
    amount: float
    sku: str
    script: tuple[str, ...]
    history: tuple[tuple[str, str], ...]
    """(input, state after) of every step after OrderCreated; timers as `timer <kind>`."""
    sent: tuple[str, ...]
    """Every command the saga sent, in order."""
    state: str
    status: str = "failed"
    reason: str | None = None
    silent: frozenset[str] = frozenset()
    broken: frozenset[str] = frozenset()
    """Commands whose handler fails every time, so the bus dead-letters them."""


PP, RI, SO = "ProcessPayment", "ReserveInventory", "ShipOrder"
REFUND, RELEASE = "RefundPayment", "ReleaseInventory"
DONE, CANCELLED = "CompleteOrder", "CancelOrder"
PAID, REFUNDED = "PaymentSucceeded", "PaymentRefunded"
RETRY, TIMEOUT, UNDO = "timer retry", "timer timeout", "timer compensate"
NO_PAYMENT = "the payment service did not answer"
NO_STOCK = "the inventory service did not answer"
WAITS_FOR_PAYMENT, WAITS_FOR_STOCK = frozenset({PP, REFUND}), frozenset({RI, RELEASE})

PATHS = (
    HarnessPath("happy path", SMALL, "BOOK-1", (),
                ((PAID, "reserving_inventory"), ("InventoryReserved", "shipping"),
                 ("OrderShipped", "completed")),
                (PP, RI, SO, DONE), "completed", "completed"),
    HarnessPath("review approved", BIG, "PIANO-1", ("OrderReviewApproved",),
                ((PAID, "manual_review"), ("OrderReviewApproved", "reserving_inventory"),
                 ("InventoryReserved", "shipping"), ("OrderShipped", "completed")),
                (PP, RI, SO, DONE), "completed", "completed"),
    HarnessPath("review rejected", BIG, "HARP-1", ("OrderReviewRejected",),
                ((PAID, "manual_review"), ("OrderReviewRejected", "manual_review"),
                 (REFUNDED, "cancelled")),
                (PP, REFUND, CANCELLED), "cancelled", reason="rejected in review: fraud"),
    HarnessPath("review never decided", BIG, "HARP-1", ("@29", "@30"),
                ((PAID, "manual_review"), (TIMEOUT, "manual_review"), (REFUNDED, "cancelled")),
                (PP, REFUND, CANCELLED), "cancelled", reason="no review decision within 30s"),
    HarnessPath("cancel in review", BIG, "HARP-1", (CANCEL,),
                ((PAID, "manual_review"), (CANCEL, "manual_review"), (REFUNDED, "cancelled")),
                (PP, REFUND, CANCELLED), "cancelled", reason=BY_CUSTOMER),
    HarnessPath("payment declined", DECLINED, "YACHT-1", (CANCEL,),
                (("PaymentFailed", "cancelled"),),
                (PP, CANCELLED), "cancelled",
                reason="payment failed: amount 60000.00 exceeds the limit of 50000.00"),
    HarnessPath("out of stock", SMALL, "OOS-LAMP", (),
                ((PAID, "reserving_inventory"), ("InventoryUnavailable", "reserving_inventory"),
                 (REFUNDED, "cancelled")),
                (PP, RI, REFUND, CANCELLED), "cancelled",
                reason="out of stock: OOS-LAMP (1 wanted, 0 available)"),
    HarnessPath("silent shipper", SMALL, "SLOW-SOFA", ("@6",),
                ((PAID, "reserving_inventory"), ("InventoryReserved", "shipping"),
                 (RETRY, "shipping"), (RETRY, "shipping"), (TIMEOUT, "shipping"),
                 (REFUNDED, "cancelled")),
                (PP, RI, SO, SO, SO, RELEASE, REFUND, CANCELLED), "cancelled",
                reason="the shipper did not answer"),
    HarnessPath("cancel while shipping", SMALL, "SLOW-SOFA", (CANCEL,),
                ((PAID, "reserving_inventory"), ("InventoryReserved", "shipping"),
                 (CANCEL, "shipping"), (REFUNDED, "cancelled")),
                (PP, RI, SO, RELEASE, REFUND, CANCELLED), "cancelled", reason=BY_CUSTOMER),
    HarnessPath("cancel while awaiting payment", SMALL, "BOOK-1", (CANCEL,),
                ((CANCEL, "cancelled"),),
                (PP, CANCELLED), "cancelled", reason=BY_CUSTOMER, silent=frozenset({PP})),
    HarnessPath("payment command dead-lettered: voided at once", SMALL, "BOOK-1", (),
                (("CommandFaulted", "voiding_payment"), (REFUNDED, "cancelled")),
                (PP, REFUND, CANCELLED), "cancelled",
                reason="the payment command failed: RuntimeError: the card processor is down",
                broken=frozenset({PP})),
    HarnessPath("payment resent, then voided", SMALL, "BOOK-1", ("@10",),
                ((RETRY, "awaiting_payment"), (RETRY, "awaiting_payment"),
                 (TIMEOUT, "voiding_payment"), (REFUNDED, "cancelled")),
                (PP, PP, PP, REFUND, CANCELLED), "cancelled", reason=NO_PAYMENT,
                silent=frozenset({PP})),
    HarnessPath("the void is never confirmed", SMALL, "BOOK-1", ("@10", "@120"),
                ((RETRY, "awaiting_payment"), (RETRY, "awaiting_payment"),
                 (TIMEOUT, "voiding_payment"), *[(RETRY, "voiding_payment")] * 5,
                 (TIMEOUT, "cancelled")),
                (PP, PP, PP, *[REFUND] * 6, CANCELLED), "cancelled",
                reason="the payment service answered neither the charge nor the void",
                silent=WAITS_FOR_PAYMENT),
    HarnessPath("cancel while voiding", SMALL, "BOOK-1", ("@10", CANCEL, f"+{REFUND}", "@5"),
                ((RETRY, "awaiting_payment"), (RETRY, "awaiting_payment"),
                 (TIMEOUT, "voiding_payment"), (CANCEL, "voiding_payment"),
                 (UNDO, "voiding_payment"), (REFUNDED, "cancelled")),
                (PP, PP, PP, REFUND, REFUND, REFUND, CANCELLED), "cancelled", reason=BY_CUSTOMER,
                silent=WAITS_FOR_PAYMENT),
    HarnessPath("cancel while reserving", SMALL, "BOOK-1", (CANCEL,),
                ((PAID, "reserving_inventory"), (CANCEL, "reserving_inventory"),
                 (REFUNDED, "cancelled")),
                (PP, RI, REFUND, CANCELLED), "cancelled", reason=BY_CUSTOMER,
                silent=frozenset({RI})),
    HarnessPath("reservation resent, then refund and release", SMALL, "BOOK-1", ("@10",),
                ((PAID, "reserving_inventory"), (RETRY, "reserving_inventory"),
                 (RETRY, "reserving_inventory"), (TIMEOUT, "reserving_inventory"),
                 (REFUNDED, "releasing_inventory"), ("InventoryReleased", "cancelled")),
                (PP, RI, RI, RI, REFUND, RELEASE, CANCELLED), "cancelled", reason=NO_STOCK,
                silent=frozenset({RI})),
    HarnessPath("the release is never confirmed", SMALL, "BOOK-1", ("@10", "@120"),
                ((PAID, "reserving_inventory"), (RETRY, "reserving_inventory"),
                 (RETRY, "reserving_inventory"), (TIMEOUT, "reserving_inventory"),
                 (REFUNDED, "releasing_inventory"), *[(RETRY, "releasing_inventory")] * 5,
                 (TIMEOUT, "cancelled")),
                (PP, RI, RI, RI, REFUND, *[RELEASE] * 6, CANCELLED), "cancelled",
                reason="the inventory service answered neither the reservation nor the release",
                silent=WAITS_FOR_STOCK),
    HarnessPath("cancel while releasing: one refund only", SMALL, "BOOK-1", ("@10", CANCEL),
                ((PAID, "reserving_inventory"), (RETRY, "reserving_inventory"),
                 (RETRY, "reserving_inventory"), (TIMEOUT, "reserving_inventory"),
                 (REFUNDED, "releasing_inventory"), (RETRY, "releasing_inventory"),
                 (CANCEL, "cancelled")),
                (PP, RI, RI, RI, REFUND, RELEASE, RELEASE, CANCELLED), "cancelled",
                reason=BY_CUSTOMER, silent=WAITS_FOR_STOCK),
    HarnessPath("the refund is never confirmed: parked", SMALL, "SLOW-SOFA",
                (CANCEL, "@600", CANCEL, "@600"),
                ((PAID, "reserving_inventory"), ("InventoryReserved", "shipping"),
                 (CANCEL, "shipping"), *[(UNDO, "shipping")] * 6),
                (PP, RI, SO, RELEASE, *[REFUND] * 6), "shipping", "parked",
                reason="in state 'shipping': compensation of 'awaiting_payment' sent 6 time(s)"
                " and PaymentRefunded never came", silent=frozenset({REFUND})),
    HarnessPath("a refund confirmed after parking finishes the undo", SMALL, "SLOW-SOFA",
                (CANCEL, "@600", REFUNDED),
                ((PAID, "reserving_inventory"), ("InventoryReserved", "shipping"),
                 (CANCEL, "shipping"), *[(UNDO, "shipping")] * 6, (REFUNDED, "cancelled")),
                (PP, RI, SO, RELEASE, *[REFUND] * 6, CANCELLED), "cancelled",
                reason=BY_CUSTOMER, silent=frozenset({REFUND})),
)


@dataclass
class Outcome:
    record: SagaRecord
    steps: list[tuple[str | None, str, str]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)


def order(sku: str, amount: float) -> m.CreateOrder:
    item = m.OrderItem(sku=sku, quantity=1, unit_price=amount)
    return m.CreateOrder(order_id="o-1", customer_id="c-1", items=[item], amount=amount)


EVENTS: dict[str, Callable[[float], m.Event]] = {
    "OrderReviewApproved": lambda _: m.OrderReviewApproved(order_id="o-1"),
    "OrderReviewRejected": lambda _: m.OrderReviewRejected(order_id="o-1", reason="fraud"),
    CANCEL: lambda _: m.OrderCancellationRequested(order_id="o-1"),
    REFUNDED: lambda amount: m.PaymentRefunded(order_id="o-1", payment_id="p", amount=amount),
}


class Order:
    """The example services (payments and inventory held back as told) and one order."""

    def __init__(
        self, silent: frozenset[str] = frozenset(), broken: frozenset[str] = frozenset()
    ) -> None:
        self.payments = Participant(
            "payments",
            {m.ProcessPayment: payments_module.process_payment,
             m.RefundPayment: payments_module.refund_payment},
            {c for c in silent if c in (PP, REFUND)},
            {c for c in broken if c in (PP, REFUND)},
        )
        self.inventory = Participant(
            "inventory",
            {m.ReserveInventory: inventory_module.reserve,
             m.ReleaseInventory: inventory_module.release},
            {c for c in silent if c in (RI, RELEASE)},
        )
        services = [orders, shipping, self.payments.service, self.inventory.service]
        self.harness = SagaHarness(services=services, sagas=SAGAS)

    async def play(self, token: str, amount: float) -> None:
        h = self.harness
        if token.startswith("@"):
            await h.fire_timers(advance=timedelta(seconds=float(token[1:])))
        elif token.startswith("+"):
            self.payments.silent.discard(token[1:])
            self.inventory.silent.discard(token[1:])
        elif token.startswith("late "):
            await self.late(token.removeprefix("late "))
        else:
            await h.publish(EVENTS[token](amount))
        await h.wait_idle()

    async def late(self, command: str) -> None:
        """The first `command` held back reaches its real handler after all."""
        for participant in (self.payments, self.inventory):
            held = [c for c in participant.held if type(c).message_type() == command]
            if held:
                participant.silent.discard(command)
                await self.harness.send(held[0])
                return
        raise AssertionError(f"no {command} was held back")

    async def outcome(self) -> Outcome:
        record = await self.harness.saga(SAGA, "o-1")
        assert record is not None
        steps = [(s.from_state, _kind(s.input), s.to_state)
                 for s in await self.harness.history(record)]
        sent = [e.type for e in self.harness.sent if e.type != "CreateOrder" and e.type]
        return Outcome(record, steps, sent)


def _kind(given: str) -> str:
    """`timer retry:shipping:3:1` -> `timer retry`; events as they are."""
    return given.split(":")[0] if given.startswith("timer ") else given


_outcomes: dict[str, Outcome] = {}


async def run_path(path: HarnessPath) -> Outcome:
    if path.name not in _outcomes:
        o = Order(path.silent, path.broken)
        async with o.harness as h:
            await h.send(order(path.sku, path.amount))
            await h.wait_idle()
            for token in path.script:
                await o.play(token, path.amount)
            _outcomes[path.name] = await o.outcome()
            assert [d.message.type for d in h.dead_letters] == sorted(path.broken)
            assert (h.faults == []) == (not path.broken)
    return _outcomes[path.name]


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
async def test_each_path_through_the_services(path: HarnessPath) -> None:
    outcome = await run_path(path)
    assert [(i, to) for _, i, to in outcome.steps[1:]] == list(path.history)
    assert outcome.sent == list(path.sent)
    record = outcome.record
    assert (record.state, record.status) == (path.state, path.status)
    assert (record.reason if record.status == "parked" else record.data.get("reason")) == (
        path.reason
    )


async def test_the_paths_take_every_transition_of_the_saga() -> None:
    import saga_dsl

    result = saga_dsl.load(SAGAS / "order_processing.yaml")
    assert result.definition is not None
    machine = saga_dsl.compile(result.definition)
    taken = {step for path in PATHS for step in (await run_path(path)).steps}
    missing = []
    for name, state in machine.states.items():
        if state.end is not None:
            continue
        wanted = [(event, t.goto, t.compensate)
                  for event, ts in machine.routes(name).items() for t in ts]
        if state.retry is not None:
            wanted.append((RETRY, name, False))
        if state.timeout is not None:
            wanted.append((TIMEOUT, state.timeout.transition.goto,
                           state.timeout.transition.compensate))
        for trigger, goto, compensate in wanted:
            ends = {goto, name} if compensate else {goto}  # an undo run stays, then moves
            if not any((name, trigger, end) in taken for end in ends):
                missing.append((name, trigger, goto))
    assert missing == []
    assert (("shipping", UNDO, "shipping")) in taken
    assert {to for _, i, to in taken if i == REFUNDED} >= {"cancelled", "releasing_inventory"}


async def test_a_charge_that_arrives_after_the_void_is_declined() -> None:
    """payments' void rule: a refund before any charge voids the order's payment."""
    o = Order(frozenset({PP}))
    async with o.harness as h:
        await h.send(order("BOOK-1", SMALL))
        await h.wait_idle()
        await o.play("@10", SMALL)  # no answer: the saga voids the payment and cancels
        assert await h.state(VOIDS, "o-1") == {"amount": SMALL}
        await o.play(f"late {PP}", SMALL)

        assert await h.state(CHARGES, "o-1") is None
        assert h.published_of(m.PaymentSucceeded) == []
        assert h.published_of(m.PaymentFailed) == [
            m.PaymentFailed(order_id="o-1", reason="the payment was voided")
        ]
        record = await h.saga(SAGA, "o-1")
        assert record is not None and (record.state, record.status) == ("cancelled", "failed")


async def test_stock_reserved_after_the_release_takes_nothing() -> None:
    """inventory's void rule: a release before any reservation voids the order's."""
    o = Order(frozenset({RI}))
    async with o.harness as h:
        await h.send(order("BOOK-1", SMALL))
        await h.wait_idle()
        await o.play("@10", SMALL)  # no answer: refund, release, cancel
        assert await h.state(RESERVATIONS, "o-1") == {"items": {}, "released": True}
        await o.play(f"late {RI}", SMALL)

        assert await h.state(STOCK, "BOOK-1") is None  # never touched: all of it is there
        assert await h.state(RESERVATIONS, "o-1") == {"items": {}, "released": True}
        record = await h.saga(SAGA, "o-1")
        assert record is not None and (record.state, record.status) == ("cancelled", "failed")


async def test_payments_alone_decline_a_charge_after_a_void() -> None:
    async with BusHarness(services=[payments_module.payments]) as h:
        await h.send(m.RefundPayment(order_id="o-9", payment_id="void", amount=5.0))
        await h.wait_idle()
        await h.send(m.ProcessPayment(order_id="o-9", amount=5.0))
        await h.wait_idle()
        assert [e.type for e in h.published] == ["PaymentRefunded", "PaymentFailed"]
        assert await h.state(CHARGES, "o-9") is None


async def test_inventory_alone_reserves_nothing_after_a_release() -> None:
    async with BusHarness(services=[inventory_module.inventory]) as h:
        item = m.OrderItem(sku="PEN-9", quantity=3, unit_price=1.0)
        await h.send(m.ReleaseInventory(order_id="o-9"))
        await h.wait_idle()
        await h.send(m.ReserveInventory(order_id="o-9", items=[item]))
        await h.wait_idle()
        assert [e.type for e in h.published] == ["InventoryReleased", "InventoryReserved"]
        assert await h.state(STOCK, "PEN-9") is None
        await h.send(m.ReserveInventory(order_id="o-10", items=[item]))
        await h.wait_idle()
        assert await h.state(STOCK, "PEN-9") == {"initial": 1_000_000, "available": 999_997}
