"""Fuzzing, bounded in time for CI: the envelope decoder, the lenient AMQP table
decoder and the saga YAML loader take any input and either succeed or refuse it the
documented way - never another exception, never a hang."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.wire import amqp_decoding
from bus.wire.envelope import Envelope, PoisonMessage, decode
from saga_dsl.saga_files import load

BOUNDED = settings(
    max_examples=300, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""About two seconds per test on a busy machine; derandomized, so CI is repeatable."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=40,
)
header_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats() | st.text() | st.binary(max_size=20)
    | st.datetimes(timezones=st.just(UTC)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(orjson.dumps),
    st.integers(0, 200).map(lambda n: b'{"a": ' + b"[" * n + b"]" * n + b"}"),
)


@BOUNDED
@given(
    body=bodies,
    message_id=st.none() | st.text(max_size=40),
    type_=st.none() | st.text(max_size=40),
    headers=st.none() | st.dictionaries(
        st.sampled_from(["version", "kind", "causation_id", "traceparent", "x-other"])
        | st.text(max_size=10), header_values, max_size=5,
    ),
    timestamp=st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_envelope_decoder_returns_an_envelope_or_refuses_as_poison(
    body: bytes, message_id: str | None, type_: str | None,
    headers: dict[str, Any] | None, timestamp: datetime | None,
) -> None:
    try:
        envelope = decode(body=body, message_id=message_id, type_=type_, correlation_id=None,
                          timestamp=timestamp, headers=headers, max_body_bytes=200)
    except PoisonMessage as poison:
        assert poison.reason
        return
    assert isinstance(envelope, Envelope) and isinstance(envelope.payload, dict)
    assert envelope.kind in ("command", "event") and isinstance(envelope.version, int)


@BOUNDED
@given(table=st.binary(max_size=400))
def test_amqp_table_decoder_decodes_or_raises_value_error(table: bytes) -> None:
    framed = struct.pack(">I", len(table)) + table
    try:
        consumed, value = amqp_decoding.field_table(framed)
    except ValueError:
        return
    assert consumed == len(framed) and isinstance(value, dict)


@BOUNDED
@given(depth=st.integers(0, 3_000), key=st.binary(min_size=1, max_size=5))
def test_amqp_tables_of_any_depth_and_any_key_bytes_decode(depth: int, key: bytes) -> None:
    value = b"F" + struct.pack(">I", 0)
    for _ in range(depth):
        entry = bytes([len(key)]) + key + value
        value = b"F" + struct.pack(">I", len(entry)) + entry
    consumed, decoded = amqp_decoding.embedded_value(value)
    assert consumed == len(value)
    for _ in range(min(depth, amqp_decoding.MAX_HEADER_DEPTH - 1)):
        assert isinstance(decoded, dict) and len(decoded) == 1
        decoded = next(iter(decoded.values()))


SAGA_WORDS = ["saga:", "version:", "start:", "on:", "states:", "initial:", "goto:", "send:",
              "end: success", "${ event.x }", "- ", "  ", "\n", "&a", "*a", "!!python/object",
              "{", "}", "[", "]", "'", '"', ":", "x", "1", "true", "~", "#", "|", ">"]


@BOUNDED
@given(text=st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(SAGA_WORDS), max_size=80).map("".join),
    st.integers(0, 3_000).map(lambda n: "a: " + "[" * n + "]" * n),
    st.integers(0, 3_000).map(lambda n: "".join(f"{' ' * i}k{i}:\n" for i in range(n // 10))),
))
def test_saga_loader_returns_a_definition_or_diagnostics(text: str) -> None:
    result = load(text)
    assert result.definition is not None or result.diagnostics
    for diagnostic in result.diagnostics:
        assert str(diagnostic)
