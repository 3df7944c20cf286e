"""Hostile messages on the real RabbitMQ: each one ends in the dead-letter queue with its
reason (or is handled, when nothing is wrong with its meaning), and the consumer goes on
serving the healthy messages behind it - no crash, no reconnect loop, no hot retry loop."""

from __future__ import annotations

import datetime
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pamqp import commands as spec
from pamqp import frame as pamqp_frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from reliability_support import PLACEHOLDER, REPO, new_id
from support.broker import TestBroker, publish_raw_frames, write_raw_frames

from bus import Command, Envelope, HandlerContext, RetryPolicy, Service
from bus.deadletters.republishing import ATTEMPTS, REASON
from bus.settings import Settings
from bus.store import Store, open_store
from bus.unitofwork.runtime import Bus
from bus.wire import amqp_decoding
from bus.wire.memory import InMemoryBroker, InMemoryTransport
from bus.wire.topology import DEFAULT_EXCHANGE, Names
from bus.wire.transport import Delivery, Publication, WireMessage

pytestmark = pytest.mark.integration

LEDGER = "rl_ledger"


class RlCharge(Command):
    charge_id: str
    fail: bool = False


ledger = Service(LEDGER, retry=RetryPolicy(attempts=2, delays=["100ms"]))


@ledger.handles(RlCharge)
async def charge(cmd: RlCharge, ctx: HandlerContext) -> None:
    if cmd.fail:
        raise RuntimeError(f"declined {cmd.charge_id}")
    seen = await ctx.tx.state_get(LEDGER, cmd.charge_id, for_update=True) or {"count": 0}
    await ctx.tx.state_put(LEDGER, cmd.charge_id, {"count": seen["count"] + 1})


@pytest.fixture
async def bus(broker: TestBroker, settings: Settings, store: Store) -> AsyncIterator[Bus]:
    amqp_decoding.install()
    running = Bus(settings, store, [ledger])
    broker.track(running.topology())
    async with running:
        yield running


def charge_message(charge_id: str, *, fail: bool = False, **headers: Any) -> WireMessage:
    envelope = Envelope.of(RlCharge(charge_id=charge_id, fail=fail), headers=headers)
    return WireMessage.of(envelope)


async def publish(broker: TestBroker, names: Names, *messages: WireMessage) -> None:
    outcomes = await broker.transport.publish(
        [Publication(DEFAULT_EXCHANGE, names.queue(LEDGER), m) for m in messages]
    )
    assert {o.value for o in outcomes} == {"confirmed"}


async def healthy_one_goes_through(broker: TestBroker, names: Names, store: Store,
                                   eventually: Any) -> None:
    """A healthy message published after the hostile ones is handled."""
    charge_id = new_id()
    await publish(broker, names, charge_message(charge_id))

    async def handled() -> bool:
        async with store.transaction() as tx:
            return await tx.state_get(LEDGER, charge_id) == {"count": 1}

    await eventually(handled, timeout=15, what="a healthy message behind the hostile ones")


async def dead(broker: TestBroker, names: Names, count: int, eventually: Any) -> list[Delivery]:
    taken: list[Delivery] = []

    async def enough() -> bool:
        taken.extend(await _take_all(broker, names.dlq(names.queue(LEDGER))))
        return len(taken) >= count

    await eventually(enough, timeout=15, what=f"{count} dead letter(s)")
    return taken


async def _take_all(broker: TestBroker, queue: str) -> list[Delivery]:
    taken = []
    while (delivery := await broker.transport.get(queue)) is not None:
        taken.append(delivery)
    return taken


def raw_message(body: bytes, **fields: Any) -> WireMessage:
    return WireMessage(**{"body": body, "message_id": new_id(), "type": "RlCharge", **fields})


BODIES = {
    "over the size limit": (
        orjson.dumps({"charge_id": "big", "pad": "x" * (2 << 20)}),
        "poison: body of 2097",
    ),
    "nested deeper than JSON parsers recurse": (
        b'{"charge_id": "deep", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "poison: body is not JSON",
    ),
    "nested deeper than the envelope allows": (
        b'{"charge_id": "deep", "x": ' + b"[" * 70 + b"]" * 70 + b"}",
        "poison: body nests deeper than 64 levels",
    ),
    "invalid UTF-8": (b'{"charge_id": "\xff\xfe"}', "poison: body is not JSON"),
}


@pytest.mark.parametrize("kind", list(BODIES))
async def test_hostile_body_is_dead_lettered_with_its_reason(
    kind: str, bus: Bus, broker: TestBroker, names: Names, store: Store, eventually: Any
) -> None:
    body, reason = BODIES[kind]
    await publish(broker, names, raw_message(body))
    [letter] = await dead(broker, names, 1, eventually)
    assert str(letter.message.headers[REASON]).startswith(reason)
    assert letter.message.body == body
    await healthy_one_goes_through(broker, names, store, eventually)


WRONG_HEADERS: dict[str, tuple[dict[str, Any], str]] = {
    "version as a table": ({"version": {"v": 1}}, "poison: header version is not an integer"),
    "kind as a number": ({"kind": 7}, "poison: header kind must be 'command' or 'event'"),
    "causation_id as a list": ({"causation_id": [1, 2]}, "poison: header causation_id is not"),
    "version far in the future": ({"version": 2**62}, "poison: RlCharge version"),
}


@pytest.mark.parametrize("kind", list(WRONG_HEADERS))
async def test_header_of_the_wrong_type_is_dead_lettered_with_its_reason(
    kind: str, bus: Bus, broker: TestBroker, names: Names, store: Store, eventually: Any
) -> None:
    headers, reason = WRONG_HEADERS[kind]
    message = charge_message(new_id())
    await publish(broker, names, WireMessage(
        body=message.body, message_id=message.message_id, type=message.type,
        headers={**message.headers, **headers},
    ))
    [letter] = await dead(broker, names, 1, eventually)
    assert str(letter.message.headers[REASON]).startswith(reason), letter.message.headers
    await healthy_one_goes_through(broker, names, store, eventually)


@pytest.mark.parametrize("attempts", [-5, 1e30, "lots", 2**63 - 1])
async def test_forged_attempt_count_neither_breaks_retries_nor_loops(
    attempts: Any, bus: Bus, broker: TestBroker, names: Names, store: Store, eventually: Any
) -> None:
    await publish(broker, names, charge_message(new_id(), fail=True, **{ATTEMPTS: attempts}))
    [letter] = await dead(broker, names, 1, eventually)
    assert str(letter.message.headers[REASON]).startswith("failed "), letter.message.headers
    assert 1 <= int(letter.message.headers[ATTEMPTS]) <= 1_000_001
    await healthy_one_goes_through(broker, names, store, eventually)


def _frame_patches() -> dict[str, tuple[spec.Basic.Properties, bytes, bytes, str | None]]:
    """Content headers no AMQP library encodes: (properties, bytes to replace, their
    replacement, the dead-letter reason or None when the message is simply handled)."""
    when = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
    return {
        "type not UTF-8": (
            spec.Basic.Properties(message_id=new_id(), message_type="RlCh" + "x" * 10,
                                  content_type="application/json"),
            b"x" * 10, b"\xff" * 10, "poison: unknown message type 'RlCh\ufffd",
        ),
        "header name not UTF-8": (
            spec.Basic.Properties(message_id=new_id(), message_type="RlCharge",
                                  headers={"kxxxxxxxxxxxxx": 1, "version": 1}),
            b"kxxxxxxxxxxxxx", b"k\xfe" * 7, None,
        ),
        "timestamp past year 9999": (
            spec.Basic.Properties(message_id=new_id(), message_type="RlCharge",
                                  timestamp=when),
            struct.pack(">Q", int(when.timestamp())), struct.pack(">Q", 2**63 - 1), None,
        ),
    }


@pytest.mark.parametrize("kind", list(_frame_patches()))
async def test_content_header_no_library_would_encode_does_not_wedge_the_consumer(
    kind: str, bus: Bus, broker: TestBroker, names: Names, store: Store, eventually: Any
) -> None:
    properties, old, new, reason = _frame_patches()[kind]
    charge_id = new_id()
    body = orjson.dumps({"charge_id": charge_id})
    await publish_raw_frames(broker.transport, DEFAULT_EXCHANGE, names.queue(LEDGER), body,
                             properties, patch=(old, new))
    if reason is None:
        await charged(store, charge_id, eventually)
    else:
        [letter] = await dead(broker, names, 1, eventually)
        assert str(letter.message.headers[REASON]).startswith(reason)
    await healthy_one_goes_through(broker, names, store, eventually)


async def charged(store: Store, charge_id: str, eventually: Any) -> None:
    async def handled() -> bool:
        async with store.transaction() as tx:
            return await tx.state_get(LEDGER, charge_id) == {"count": 1}

    await eventually(handled, timeout=15, what="the odd but meaningful message handled")


async def test_headers_nested_5000_levels_do_not_wedge_the_consumer(
    bus: Bus, broker: TestBroker, names: Names, store: Store, eventually: Any
) -> None:
    charge_id = new_id()
    properties = spec.Basic.Properties(message_id=new_id(), message_type="RlCharge",
                                       headers={"deep": PLACEHOLDER.decode()})
    encoded = b"S" + struct.pack(">I", len(PLACEHOLDER)) + PLACEHOLDER
    await _publish_resized(broker, names, orjson.dumps({"charge_id": charge_id}), properties,
                           encoded, _nested_table(5_000))
    await charged(store, charge_id, eventually)
    await healthy_one_goes_through(broker, names, store, eventually)


def _nested_table(depth: int) -> bytes:
    """A header value: a table holding a table ... `depth` levels deep."""
    value = b"F" + struct.pack(">I", 0)
    for _ in range(depth):
        value = b"F" + struct.pack(">I", 2 + len(value)) + b"\x01k" + value
    return value


async def _publish_resized(broker: TestBroker, names: Names, body: bytes,
                           properties: spec.Basic.Properties, old: bytes, new: bytes) -> None:
    """Like `publish_raw_frames`, for a replacement of another length: the frame size
    and the header table's length prefix are rewritten around it."""

    def frames(channel: int) -> bytes:
        header = pamqp_frame.marshal(ContentHeader(properties=properties, body_size=len(body)),
                                     channel)
        payload = header[7:-1]
        table_at = payload.index(b"\x04deep") - 4
        (table_length,) = struct.unpack(">I", payload[table_at : table_at + 4])
        grown = len(new) - len(old)
        payload = (payload[:table_at] + struct.pack(">I", table_length + grown)
                   + payload[table_at + 4 :].replace(old, new))
        return (
            pamqp_frame.marshal(spec.Basic.Publish(exchange="", routing_key=names.queue(LEDGER)),
                                channel)
            + struct.pack(">BHI", 2, channel, len(payload)) + payload + b"\xce"
            + pamqp_frame.marshal(ContentBody(body), channel)
        )

    await write_raw_frames(broker.transport, frames)


async def test_flood_of_unknown_message_types_is_dead_lettered_while_serving_on(
    bus: Bus, broker: TestBroker, names: Names, store: Store, eventually: Any
) -> None:
    flood, healthy = 2_000, [new_id() for _ in range(40)]
    messages = [raw_message(b"{}", type=f"Unknown{i % 97}") for i in range(flood)]
    for i, charge_id in enumerate(healthy):
        messages.insert(i * (flood // len(healthy)), charge_message(charge_id))
    for start in range(0, len(messages), 500):
        await publish(broker, names, *messages[start : start + 500])

    async def all_healthy_handled() -> bool:
        async with store.transaction() as tx:
            return len([k for k, _ in await tx.state_list(LEDGER) if k in healthy]) == 40

    await eventually(all_healthy_handled, timeout=60, what="the healthy messages in the flood")
    dlq = names.dlq(names.queue(LEDGER))

    async def flood_dead_lettered() -> bool:
        return await broker.transport.queue_depth(dlq) == flood

    await eventually(flood_dead_lettered, timeout=60, what="every unknown type dead-lettered")
    [pipeline] = bus.pipelines
    assert pipeline.poisoned == flood
    await healthy_one_goes_through(broker, names, store, eventually)


def test_the_rabbitmq_transport_installs_the_lenient_frame_decoders() -> None:
    code = (
        "import bus.wire.rabbitmq, bus.wire.amqp_decoding as d; raise SystemExit(not d.installed())"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


async def test_the_body_size_limit_is_a_setting(tmp_path: Any, eventually: Any) -> None:
    memory = InMemoryBroker()
    settings = Settings(amqp_url="amqp://in-memory/", store=f"sqlite:///{tmp_path / 'm.db'}",
                        namespace="limit", max_body_bytes=1_000)
    names = Names(settings.namespace)
    async with open_store(settings) as store, Bus(
        settings, store, [ledger], transport=InMemoryTransport(memory)
    ):
        body = orjson.dumps({"charge_id": "x" * 2_000})
        memory.publish([Publication(DEFAULT_EXCHANGE, names.queue(LEDGER), raw_message(body))])
        dlq = names.dlq(names.queue(LEDGER))
        [letter] = await eventually(lambda: memory.messages(dlq), what="the big body dead")
    assert str(letter.headers[REASON]).startswith("poison: body of 2")
