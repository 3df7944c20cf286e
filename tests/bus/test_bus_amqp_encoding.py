"""The bus's own publish encoder writes exactly the bytes pamqp (beneath aiormq) writes
for the same message: other clients (tests/ecosystem/test_node_interop.py) read them
as before (docs/wire-format.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pamqp.frame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from bus.wire import amqp_encoding
from bus.wire.transport import WireMessage

MAX_CONTENT = 131_072 - amqp_encoding.FRAME_OVERHEAD


def properties(message: WireMessage) -> spec.Basic.Properties:
    """The properties aiormq's basic_publish was given for a `WireMessage`."""
    return spec.Basic.Properties(
        content_type=message.content_type,
        delivery_mode=amqp_encoding.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        message_type=message.type,
        timestamp=message.timestamp,
        headers=dict(message.headers) if message.headers else None,
    )


def pamqp_frames(
    channel: int, exchange: str, routing_key: str, message: WireMessage, *,
    mandatory: bool, max_content: int = MAX_CONTENT,
) -> bytes:
    """What aiormq's basic_publish writes for the same publish."""
    body = message.body
    frames: list[Any] = [
        spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory),
        ContentHeader(properties=properties(message), body_size=len(body)),
    ]
    frames += [ContentBody(body[i : i + max_content]) for i in range(0, len(body), max_content)]
    return b"".join(pamqp.frame.marshal(frame, channel) for frame in frames)


short_text = st.text(max_size=40).filter(lambda t: len(t.encode()) <= 255)
scalar = st.one_of(
    st.text(max_size=30), st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none(),
    st.floats(allow_nan=False, width=32), st.decimals(places=2, min_value=-1000, max_value=1000),
)
header_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))]),
)
messages = st.builds(
    WireMessage,
    body=st.binary(max_size=300),
    message_id=st.one_of(st.none(), short_text),
    type=st.one_of(st.none(), short_text),
    correlation_id=st.one_of(st.none(), short_text),
    timestamp=st.one_of(st.none(), moments),
    headers=st.dictionaries(st.text(max_size=12), header_value, max_size=6),
    content_type=st.one_of(st.none(), st.just("application/json"), short_text),
)


@settings(max_examples=200, deadline=None)
@given(
    message=messages,
    channel=st.integers(1, 2047),
    exchange=st.from_regex(r"[a-zA-Z0-9_.:-]{0,30}", fullmatch=True),
    routing_key=short_text,
    mandatory=st.booleans(),
)
def test_a_publish_is_encoded_byte_for_byte_as_pamqp_encodes_it(
    message: WireMessage, channel: int, exchange: str, routing_key: str, mandatory: bool,
) -> None:
    ours = amqp_encoding.publish(
        channel, exchange, routing_key, message, mandatory=mandatory, max_content=MAX_CONTENT
    )
    assert ours == pamqp_frames(channel, exchange, routing_key, message, mandatory=mandatory)


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 250, 300])
def test_a_long_body_is_cut_into_frames_as_aiormq_cuts_it(size: int) -> None:
    message = WireMessage(body=b"x" * size, message_id="m", type="T")
    ours = amqp_encoding.publish(1, "ex", "rk", message, mandatory=False, max_content=100)
    theirs = pamqp_frames(1, "ex", "rk", message, mandatory=False, max_content=100)
    assert ours == theirs
    assert ours.count(b"\x03\x00\x01") == -(-size // 100)


def test_headers_that_pamqp_writes_its_own_way_are_left_to_it() -> None:
    long_key = "k" * 200  # pamqp truncates a key to 128 bytes
    message = WireMessage(
        body=b"{}", message_id="m", type="T",
        headers={long_key: 1, "d": Decimal("1.5"), "n": {"deep": [1, "a", None]}},
    )
    ours = amqp_encoding.publish(1, "ex", "rk", message, mandatory=True, max_content=1000)
    assert ours == pamqp_frames(1, "ex", "rk", message, mandatory=True, max_content=1000)


@pytest.mark.parametrize(
    ("exchange", "routing_key", "message"),
    [
        ("bad exchange!", "rk", WireMessage(body=b"", message_id="m", type="T")),
        ("e" * 128, "rk", WireMessage(body=b"", message_id="m", type="T")),
        ("ex", "r" * 256, WireMessage(body=b"", message_id="m", type="T")),
        ("ex", "rk", WireMessage(body=b"", message_id="m" * 256, type="T")),
    ],
)
def test_what_amqp_cannot_carry_is_refused(
    exchange: str, routing_key: str, message: WireMessage,
) -> None:
    with pytest.raises((TypeError, ValueError)):
        amqp_encoding.publish(1, exchange, routing_key, message, mandatory=False,
                              max_content=1000)
