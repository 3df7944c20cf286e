"""The pure parts of the bus, no broker: settings, redaction, durations, retry policy,
topology, dead-letter headers, the handler context, services, poison classification."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import structlog
from support.ledger_services import BtCharge, BtCharged, audit, ledger

from bus import (
    Command,
    ConfigurationError,
    Envelope,
    Event,
    HandlerContext,
    RetryPolicy,
    Service,
    Settings,
)
from bus.deadletters.republishing import (
    ATTEMPTS,
    EXCEPTION_TYPE,
    FIRST_FAILURE,
    LAST_FAILURE,
    ORIGINAL_EXCHANGE,
    ORIGINAL_ROUTING_KEY,
    REASON,
    dead_letter,
    retry,
)
from bus.durations import format_duration, parse_duration
from bus.observability.logging import configure_logging
from bus.observability.redact import redact_text, redact_url
from bus.unitofwork.failure_policy import COMMIT_BACKOFF, CommitBackoff
from bus.unitofwork.pipeline import Pipeline
from bus.unitofwork.runtime import bus_topology, check_endpoints
from bus.wire.backoff import Backoff
from bus.wire.contracts import Registry
from bus.wire.envelope import PoisonMessage
from bus.wire.topology import Binding, Names
from bus.wire.transport import Delivery, WireMessage


# -- settings ---------------------------------------------------------------------------
def test_settings_flags_override_environment_which_overrides_defaults() -> None:
    env = {"SAGABUS_PREFETCH": "50", "SAGABUS_NAMESPACE": "envns", "SAGABUS_QUEUE_TYPE": "quorum"}
    settings = Settings.load(env, prefetch=300, namespace=None)
    assert settings.prefetch == 300
    assert settings.namespace == "envns"
    assert settings.queue_type == "quorum"
    assert settings.amqp_url == "amqp://guest:guest@localhost:5672/"
    assert settings.store == "sqlite:///./sagabus.db"


def test_settings_reject_bad_values_in_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match=r"prefetch \(SAGABUS_PREFETCH\)"):
        Settings.load({"SAGABUS_PREFETCH": "lots"})
    with pytest.raises(ConfigurationError, match="queue_type"):
        Settings.load({}, queue_type="stream")


@pytest.mark.parametrize(
    "url",
    ["http://guest:pw@host/", "amqp://guest:pw@/", "amqp://guest:pw@host:99999/", "nonsense"],
)
def test_malformed_amqp_urls_are_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError, match="malformed AMQP URL") as failure:
        Settings.load({}, amqp_url=url)
    assert ":pw@" not in str(failure.value)


def test_durations_in_settings_accept_units() -> None:
    settings = Settings.load({"SAGABUS_INBOX_RETENTION": "2d", "SAGABUS_RELAY_INTERVAL": "250ms"})
    assert settings.inbox_retention == 2 * 86_400
    assert settings.relay_interval == 0.25


# -- redaction --------------------------------------------------------------------------
def test_redact_url_masks_the_password_only() -> None:
    assert redact_url("amqp://guest:s3cret@rabbit:5672/vh") == "amqp://guest:***@rabbit:5672/vh"
    assert redact_url("amqp://rabbit/") == "amqp://rabbit/"
    assert redact_url("postgresql://u:p%40ss@db/x?schema=s") == "postgresql://u:***@db/x?schema=s"


def test_redact_text_masks_every_url_in_free_text() -> None:
    text = "failed amqp://a:one@h1/ then amqps://b:two@h2:5671/ gave up"
    assert redact_text(text) == "failed amqp://a:***@h1/ then amqps://b:***@h2:5671/ gave up"


def test_json_logs_carry_bound_fields_and_never_a_password(capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", "info")
    try:
        with structlog.contextvars.bound_contextvars(message_id="m-1", correlation_id="c-1",
                                                     endpoint="ledger"):
            structlog.get_logger("t").warning("cannot reach", url="amqp://u:hunter2@h/")
        line = orjson.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    assert line["message_id"] == "m-1"
    assert line["correlation_id"] == "c-1"
    assert line["endpoint"] == "ledger"
    assert line["url"] == "amqp://u:***@h/"


def test_log_context_binds_while_open_and_puts_back_what_was_there() -> None:
    from bus.observability.logging import log_context

    get = structlog.contextvars.get_contextvars
    structlog.contextvars.bind_contextvars(endpoint="outer")
    try:
        with log_context(endpoint="inner", message_id="m-1"):
            assert get()["endpoint"] == "inner" and get()["message_id"] == "m-1"
            with log_context(message_id="m-2"):
                assert get()["message_id"] == "m-2"
            assert get()["message_id"] == "m-1"
        assert get()["endpoint"] == "outer" and "message_id" not in get()
    finally:
        structlog.contextvars.unbind_contextvars("endpoint")


# -- durations and retry ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds", "spelled"),
    [("200ms", 0.2, "200ms"), ("10s", 10, "10s"), ("1m", 60, "1m"), ("90s", 90, "90s"),
     ("2h", 7200, "2h"), ("1d", 86400, "1d"), ("1.5", 1.5, "1500ms")],
)
def test_durations_parse_and_format(text: str, seconds: float, spelled: str) -> None:
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == spelled


def test_duration_typo_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="bad duration '10 sec'"):
        parse_duration("10 sec")


def test_a_backoff_doubles_up_to_its_longest_and_starts_again_after_a_success() -> None:
    backoff = Backoff(0.1, 0.35)
    assert [backoff.failed() for _ in range(4)] == [0.1, 0.2, 0.35, 0.35]
    backoff.succeeded()
    assert backoff.failed() == 0.1
    assert CommitBackoff().failed() == COMMIT_BACKOFF[0]


def test_retry_policy_waits_per_tier_and_repeats_the_last() -> None:
    policy = RetryPolicy(attempts=5, delays=["1s", "10s"])
    assert [policy.delay_after(n) for n in range(1, 6)] == [1, 10, 10, 10, None]
    assert policy.tiers == (1, 10)
    assert RetryPolicy(attempts=1).delay_after(1) is None
    assert RetryPolicy(attempts=1).tiers == ()


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(attempts=3, delays=[])


# -- topology ---------------------------------------------------------------------------
def test_default_namespace_keeps_queue_names_and_others_prefix_them() -> None:
    assert Names().queue("payments") == "payments"
    assert Names().commands == "sagabus.commands"
    assert Names("t1").queue("payments") == "t1.payments"
    assert Names("t1").events == "t1.events"
    assert Names.retry("t1.payments", 0.2) == "t1.payments.retry.200ms"
    assert Names.dlq("t1.payments") == "t1.payments.dlq"


def test_topology_binds_commands_and_events_and_declares_tiers() -> None:
    topology = bus_topology(Names("t1"), [ledger, audit], "quorum")
    queues = {q.name: q for q in topology.queues}
    assert set(queues) == {
        "t1.unroutable", "t1.dead-letter-queues", "t1.ledger", "t1.ledger.dlq",
        "t1.ledger.retry.200ms", "t1.ledger.retry.300ms", "t1.audit", "t1.audit.dlq",
        "t1.audit.retry.200ms",
    }
    assert queues["t1.ledger"].bindings == (Binding("t1.commands", "BtCharge"),)
    assert queues["t1.audit"].bindings == (Binding("t1.events", "BtCharged"),)
    tier = queues["t1.ledger.retry.300ms"]
    assert (tier.message_ttl, tier.dead_letter_to, tier.queue_type) == (0.3, "t1.ledger", "quorum")
    assert {e.name: e.kind for e in topology.exchanges} == {
        "t1.commands": "direct", "t1.events": "topic"
    }


def test_a_command_has_one_owner() -> None:
    other = Service("other_ledger")
    other.handles(BtCharge)(_noop)
    with pytest.raises(ConfigurationError, match="BtCharge is handled by both ledger and"):
        check_endpoints([ledger, other])
    with pytest.raises(ConfigurationError, match="two endpoints are named 'ledger'"):
        check_endpoints([ledger, Service("ledger")])


async def _noop(message: Any, ctx: HandlerContext) -> None:
    return None


# -- services ---------------------------------------------------------------------------
def test_service_takes_commands_with_handles_and_events_with_on() -> None:
    service = Service("svc")
    with pytest.raises(ConfigurationError, match=r"handles\(\) takes a Command"):
        service.handles(BtCharged)
    with pytest.raises(ConfigurationError, match=r"on\(\) takes an Event"):
        service.on(BtCharge)
    service.handles(BtCharge)(_noop)
    with pytest.raises(ConfigurationError, match="handles BtCharge twice"):
        service.handles(BtCharge)
    service.on(BtCharged)(_noop)
    service.on(BtCharged)(_noop)
    assert service.commands == {"BtCharge"}
    assert service.events == {"BtCharged"}


async def test_service_passes_the_parsed_model_to_its_handlers() -> None:
    service = Service("svc")
    seen: list[Any] = []

    @service.on(BtCharged)
    async def first(event: BtCharged, ctx: HandlerContext) -> None:
        seen.append(("first", event))

    @service.on(BtCharged)
    async def second(event: BtCharged, ctx: HandlerContext) -> None:
        seen.append(("second", event))

    envelope = Envelope.of(BtCharged(charge_id="c", amount=2))
    await service.handle(envelope, context(envelope))
    assert seen == [("first", BtCharged(charge_id="c", amount=2)),
                    ("second", BtCharged(charge_id="c", amount=2))]


# -- handler context --------------------------------------------------------------------
def context(message: Envelope) -> HandlerContext:
    return HandlerContext(endpoint="svc", tx=None, message=message,  # type: ignore[arg-type]
                          contract=None, log=structlog.get_logger())


def test_sent_messages_carry_correlation_and_causation_of_the_handled_one() -> None:
    handled = Envelope.of(BtCharge(charge_id="c"), correlation_id="order-1",
                          traceparent="00-abc-def-01")
    ctx = context(handled)
    event = ctx.publish(BtCharged(charge_id="c", amount=1))
    assert (event.correlation_id, event.causation_id) == ("order-1", handled.message_id)
    assert event.traceparent == "00-abc-def-01"
    explicit = ctx.send(BtCharge(charge_id="d"), correlation_id="saga-7", headers={"h": 1})
    assert (explicit.correlation_id, explicit.causation_id) == ("saga-7", handled.message_id)
    assert explicit.headers == {"h": 1}
    ready = Envelope(type="Anything", kind="event", payload={}, correlation_id="x")
    assert ctx.publish(ready).correlation_id == "x"
    assert [e.type for e in ctx.outgoing] == ["BtCharged", "BtCharge", "Anything"]


@pytest.mark.parametrize("stamp", [
    {"correlation_id": "order-1", "traceparent": "00-abc-def-01"},  # stamped already
    {"correlation_id": "order-1"}, {"traceparent": "00-abc-def-01"}, {"correlation_id": "o"},
    {"correlation_id": "order-1", "traceparent": "00-abc-def-01", "causation_id": "other"},
])
def test_a_published_envelope_is_stamped_as_caused_by_does(stamp: dict[str, str]) -> None:
    handled = Envelope.of(BtCharge(charge_id="c"), correlation_id="order-1",
                          traceparent="00-abc-def-01")
    ready = Envelope(type="BtCharged", kind="event", payload={}, **{
        "causation_id": handled.message_id, **stamp})
    assert context(handled).publish(ready) == ready.caused_by(handled)


def test_send_takes_commands_and_publish_takes_events() -> None:
    ctx = context(Envelope.of(BtCharge(charge_id="c")))
    with pytest.raises(TypeError, match=r"ctx.send\(\) takes a command"):
        ctx.send(BtCharged(charge_id="c", amount=1))
    with pytest.raises(TypeError, match=r"ctx.publish\(\) takes an event; BtCharge is a command"):
        ctx.publish(BtCharge(charge_id="c"))
    assert ctx.outgoing == []


# -- dead letters -----------------------------------------------------------------------
def delivery(headers: dict[str, Any] | None = None, **message: Any) -> Delivery:
    fields: dict[str, Any] = {"body": b'{"charge_id": "c"}', "message_id": "m-1",
                              "type": "BtCharge", **message}
    return Delivery(
        message=WireMessage(headers=headers or {}, **fields),
        exchange="t1.commands", routing_key="BtCharge", redelivered=False, token=None,
    )


def test_retry_counts_attempts_and_keeps_the_first_failure_and_origin() -> None:
    first = datetime(2024, 1, 1, tzinfo=UTC)
    later = datetime(2024, 1, 2, tzinfo=UTC)
    once = retry(delivery(), tier_queue="t1.ledger.retry.1s", error=ValueError("no"), now=first)
    assert (once.exchange, once.routing_key) == ("", "t1.ledger.retry.1s")
    back = Delivery(message=once.message, exchange="", routing_key="t1.ledger",
                    redelivered=False, token=None)
    twice = retry(back, tier_queue="t1.ledger.retry.1s", error=ValueError("no"), now=later)
    headers = twice.message.headers
    assert headers[ATTEMPTS] == 2
    assert headers[FIRST_FAILURE] == first.isoformat()
    assert headers[LAST_FAILURE] == later.isoformat()
    assert headers[ORIGINAL_EXCHANGE] == "t1.commands"
    assert headers[ORIGINAL_ROUTING_KEY] == "BtCharge"
    assert headers[EXCEPTION_TYPE] == "ValueError"
    assert twice.message.message_id == "m-1"
    assert twice.message.body == b'{"charge_id": "c"}'


def test_dead_letter_drops_broker_bookkeeping_and_says_why() -> None:
    dead = dead_letter(
        delivery({"x-death": [{"count": 3}], "user": "kept"}), dlq="t1.ledger.dlq",
        origin_queue="t1.ledger", reason="poison: missing message_id", error=None,
        now=datetime.now(UTC),
    )
    assert dead.routing_key == "t1.ledger.dlq"
    assert "x-death" not in dead.message.headers
    assert dead.message.headers["user"] == "kept"
    assert dead.message.headers[REASON] == "poison: missing message_id"


# -- poison classification --------------------------------------------------------------
class Versioned(Command):
    __version__ = 3
    name: str


def classify(wire: WireMessage, contracts: Registry) -> str | dict[str, Any]:
    service = Service("p")
    service.handles(Versioned)(_noop)
    service.on(BtCharged)(_noop)
    pipeline = Pipeline(service, store=None, transport=None, relay=None,  # type: ignore[arg-type]
                        names=Names("t1"), contracts=contracts)
    try:
        envelope, _ = pipeline._decode(
            Delivery(message=wire, exchange="", routing_key="", redelivered=False, token=None)
        )
    except PoisonMessage as poison:
        return poison.reason
    return envelope.payload


def test_poison_is_told_apart_from_good_messages_and_old_versions_are_upcast() -> None:
    contracts = Registry()
    contracts.register(Versioned)
    contracts.register(BtCharged)
    contracts.register(BtCharge)
    contracts.upcaster("Versioned", 1)(lambda p: {"full_name": p["name"]})
    contracts.upcaster("Versioned", 2)(lambda p: {"name": p["full_name"]})

    def wire(body: bytes, type_: str | None = "Versioned", **kw: Any) -> WireMessage:
        return WireMessage(body=body, message_id=kw.pop("message_id", "m"), type=type_, **kw)

    assert classify(wire(b'{"name": "a"}', headers={"version": 3}), contracts) == {"name": "a"}
    assert classify(wire(b'{"name": "a"}', headers={"version": 1}), contracts) == {"name": "a"}
    assert classify(wire(b"{oops"), contracts).startswith("body is not JSON")
    assert classify(wire(b"{}", message_id=None), contracts) == "missing message_id"
    assert classify(wire(b"{}", type_="Nope"), contracts) == "unknown message type 'Nope'"
    assert classify(wire(b"{}", type_="BtCharge"), contracts) == (
        "BtCharge is not handled by endpoint p"
    )
    assert classify(wire(b'{"name": 1}', headers={"version": 3}), contracts) == (
        "Versioned: name: Input should be a valid string"
    )
    assert classify(wire(b'{"name": "a"}', headers={"version": 4}), contracts) == (
        "Versioned version 4 is newer than the known version 3"
    )


def test_an_endpoint_may_bind_types_without_a_contract_and_read_raw_payloads() -> None:
    class Raw:
        name = "raw"
        commands: frozenset[str] = frozenset()
        events = frozenset({"SomethingHappened"})
        retry = RetryPolicy()

        async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
            return None

    pipeline = Pipeline(Raw(), store=None, transport=None, relay=None,  # type: ignore[arg-type]
                        names=Names("t1"), contracts=Registry())
    envelope, contract = pipeline._decode(Delivery(
        message=WireMessage(body=b'{"any": [1]}', message_id="m", type="SomethingHappened"),
        exchange="", routing_key="", redelivered=False, token=None,
    ))
    assert (envelope.payload, contract) == ({"any": [1]}, None)


def test_event_and_command_base_classes_stay_out_of_the_registry() -> None:
    from bus.wire.contracts import registry

    assert "Command" not in registry and "Event" not in registry
    assert issubclass(BtCharged, Event)
