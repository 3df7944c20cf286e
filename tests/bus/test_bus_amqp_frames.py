"""The direct decoders of Basic.Deliver, Basic.Ack and content headers read what
pamqp's generic decoder reads (with the lenient primitives installed), and refuse what
it refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pamqp.frame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp import exceptions
from pamqp.header import ContentHeader

from bus.wire import amqp_decoding, amqp_frames

amqp_decoding.install()

short_text = st.text(max_size=30).filter(lambda t: len(t.encode()) <= 255)
exchange_names = st.from_regex(r"[a-zA-Z0-9_.:-]{0,20}", fullmatch=True)
tags = st.integers(0, 2**63 - 1)
tables = st.dictionaries(
    st.text(max_size=8), st.one_of(st.text(max_size=10), st.integers(-1000, 10**12),
                                   st.booleans(), st.none()), max_size=5,
)
properties = st.builds(
    spec.Basic.Properties,
    content_type=st.one_of(st.none(), short_text),
    content_encoding=st.one_of(st.none(), short_text),
    headers=st.one_of(st.none(), tables),
    delivery_mode=st.one_of(st.none(), st.sampled_from([1, 2])),
    priority=st.one_of(st.none(), st.integers(0, 9)),
    correlation_id=st.one_of(st.none(), short_text),
    reply_to=st.one_of(st.none(), short_text),
    expiration=st.one_of(st.none(), st.integers(0, 10**6).map(str)),
    message_id=st.one_of(st.none(), short_text),
    timestamp=st.one_of(st.none(), st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d.replace(microsecond=0))),
    message_type=st.one_of(st.none(), short_text),
    user_id=st.one_of(st.none(), short_text),
    app_id=st.one_of(st.none(), short_text),
)


def generic(frame_data: bytes, header: bool) -> Any:
    """pamqp's own decoding of a frame payload (lenient primitives installed)."""
    if header:
        return amqp_decoding.ORIGINAL_HEADER_FRAME(frame_data)
    return amqp_decoding.ORIGINAL_METHOD_FRAME(frame_data)


def payload(frame: Any) -> bytes:
    """The payload of a marshalled frame (without type, channel, size and frame-end)."""
    return pamqp.frame.marshal(frame, 1)[7:-1]


def same(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, ContentHeader):
        assert (a.class_id, a.weight, a.body_size) == (b.class_id, b.weight, b.body_size)
        assert dict(a.properties) == dict(b.properties)
    else:
        assert dict(a) == dict(b)


@settings(max_examples=300, deadline=None)
@given(consumer_tag=short_text, tag=tags, redelivered=st.booleans(),
       exchange=exchange_names, routing_key=short_text)
def test_a_deliver_reads_as_pamqp_reads_it(
    consumer_tag: str, tag: int, redelivered: bool, exchange: str, routing_key: str,
) -> None:
    data = payload(spec.Basic.Deliver(consumer_tag, tag, redelivered, exchange, routing_key))
    ours = amqp_frames.method_frame(data)
    same(ours, generic(data, header=False))
    assert isinstance(ours, spec.Basic.Deliver)


@given(tag=tags, multiple=st.booleans())
def test_an_ack_reads_as_pamqp_reads_it(tag: int, multiple: bool) -> None:
    data = payload(spec.Basic.Ack(tag, multiple))
    same(amqp_frames.method_frame(data), generic(data, header=False))


def test_other_methods_are_left_to_pamqp() -> None:
    for frame in (spec.Basic.Nack(5, True, False), spec.Basic.ConsumeOk("ctag"),
                  spec.Basic.Return(312, "NO_ROUTE", "ex", "rk")):
        data = payload(frame)
        same(amqp_frames.method_frame(data), generic(data, header=False))


@settings(max_examples=300, deadline=None)
@given(props=properties, size=st.integers(0, 2**40))
def test_a_content_header_reads_as_pamqp_reads_it(props: Any, size: int) -> None:
    data = payload(ContentHeader(0, size, props))
    same(amqp_frames.header_frame(data), generic(data, header=True))


@settings(max_examples=500, deadline=None)
@given(garbage=st.binary(max_size=80), kind=st.sampled_from(["deliver", "ack", "header"]))
def test_broken_frames_are_refused_or_read_alike(garbage: bytes, kind: str) -> None:
    """Truncated or corrupted payloads: both decoders raise UnmarshalingException, or
    both read the same values (short strings are read leniently)."""
    if kind == "header":
        data = payload(ContentHeader(0, 3, spec.Basic.Properties(message_id="m")))[:14] + garbage
    else:
        frame = spec.Basic.Deliver("c", 1, False, "e", "r") if kind == "deliver" else \
            spec.Basic.Ack(1)
        data = payload(frame)[:4] + garbage
    header = kind == "header"
    decode = amqp_frames.header_frame if header else amqp_frames.method_frame
    try:
        theirs = generic(data, header)
    except exceptions.UnmarshalingException:
        with pytest.raises(exceptions.UnmarshalingException):
            decode(data)
    else:
        same(decode(data), theirs)


def test_install_puts_them_in_front_of_pamqp() -> None:
    assert amqp_decoding.installed()
    frame = spec.Basic.Deliver("c", 7, True, "ex", "rk")
    _, channel, decoded = pamqp.frame.unmarshal(pamqp.frame.marshal(frame, 3))
    assert channel == 3
    same(decoded, frame)


@settings(max_examples=100, deadline=None)
@given(table=st.dictionaries(st.text(max_size=8).filter(lambda k: len(k.encode()) < 256),
                             st.one_of(st.text(max_size=40), st.integers(-100, 100)),
                             max_size=6))
def test_header_tables_of_long_strings_read_back_as_written(table: dict[str, Any]) -> None:
    from pamqp import encode

    assert amqp_decoding.field_table(encode.field_table(table)) == (
        len(encode.field_table(table)), table)


def test_a_long_string_that_is_not_utf8_or_overruns_its_table_reads_as_pamqp_reads_it() -> None:
    invalid = b"\x01kS\x00\x00\x00\x02\xff\xfe"
    assert amqp_decoding.field_table(len(invalid).to_bytes(4, "big") + invalid) == (
        4 + len(invalid), {"k": b"\xff\xfe"})
    overrun = b"\x01kS\x00\x00\x00\x64abc"  # claims 100 bytes, the table holds 3
    assert amqp_decoding.field_table(len(overrun).to_bytes(4, "big") + overrun) == (
        4 + len(overrun), {"k": "abc"})
    cut = b"\x01kS\x00\x00"  # too short for the length: pamqp's error
    with pytest.raises(ValueError):
        amqp_decoding.field_table(len(cut).to_bytes(4, "big") + cut)
