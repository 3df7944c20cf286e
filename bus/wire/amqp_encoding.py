"""The frames of one persistent publish, encoded in one pass: Basic.Publish, its
content header and its body frames, byte for byte what pamqp writes for the same
message (tests/bus/test_bus_amqp_encoding.py compares the two).

pamqp marshals a message through a generic path (an object per frame, a lookup per
property, a function per table value): about a third of the daemon's CPU for a
publish. The bus always sets the same few properties, so this module packs them with
precompiled structs, and hands anything unusual in a headers table (a nested table, a
decimal, a key longer than AMQP allows) to pamqp's own encoder.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pamqp import constants as pamqp_constants
from pamqp import encode as pamqp_encode

from bus.wire.transport import WireMessage

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_END = b"\xce"
FRAME_OVERHEAD = 8
"""Bytes a frame adds around its payload: type, channel, size, frame-end."""

BASIC_CLASS = 60
PUBLISH_INDEX = 0x003C0028
"""Basic.Publish: class 60, method 40."""
PERSISTENT = 2

_FRAME_HEAD = struct.Struct(">BHI")
_METHOD_HEAD = struct.Struct(">IH")
_CONTENT_HEAD = struct.Struct(">HHQ")
_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_TIMESTAMP = struct.Struct(">Q")
_INT_SMALL = struct.Struct(">b")

# property flags, in the order the properties are written
_CONTENT_TYPE = 1 << 15
_HEADERS = 1 << 13
_DELIVERY_MODE = 1 << 12
_CORRELATION_ID = 1 << 10
_MESSAGE_ID = 1 << 7
_TIMESTAMP_FLAG = 1 << 6
_TYPE = 1 << 5

MAX_KEY_BYTES = 128
"""pamqp truncates longer header names; such a table goes to pamqp to be written."""


def publish(
    channel: int,
    exchange: str,
    routing_key: str,
    message: WireMessage,
    *,
    mandatory: bool,
    max_content: int,
) -> bytes:
    """The frames of one publish on `channel`, bodies cut at `max_content` bytes.
    Raises TypeError (as pamqp does) for a name or property too long for AMQP."""
    body = message.body
    method = _methods.get((exchange, routing_key, mandatory))
    if method is None:
        method = _method(exchange, routing_key, mandatory)
    header = _CONTENT_HEAD.pack(BASIC_CLASS, 0, len(body)) + properties(message)
    parts = [_frame(FRAME_METHOD, channel, method), _frame(FRAME_HEADER, channel, header)]
    if len(body) < max_content:
        if body:
            parts.append(_frame(FRAME_BODY, channel, body))
    else:
        parts.extend(
            _frame(FRAME_BODY, channel, body[start : start + max_content])
            for start in range(0, len(body), max_content)
        )
    return b"".join(parts)


def _method(exchange: str, routing_key: str, mandatory: bool) -> bytes:
    """A Basic.Publish method's payload (the same for every message of one exchange,
    routing key and flag: kept for the next, up to `CACHED` of them)."""
    check_exchange(exchange)
    method = (
        _METHOD_HEAD.pack(PUBLISH_INDEX, 0)
        + short_string(exchange)
        + short_string(routing_key)
        + (b"\x01" if mandatory else b"\x00")
    )
    if len(_methods) < CACHED:
        _methods[(exchange, routing_key, mandatory)] = method
    return method


def check_exchange(name: str) -> None:
    """Raises ValueError for an exchange name AMQP does not allow (as pamqp does)."""
    if len(name) > 127:
        raise ValueError("Max length exceeded for exchange")
    if not pamqp_constants.DOMAIN_REGEX["exchange-name"].fullmatch(name):
        raise ValueError("Invalid value for exchange")


CACHED = 4096
"""How many method payloads, and how many header names, are kept once encoded."""

_methods: dict[tuple[str, str, bool], bytes] = {}
_names: dict[str, bytes] = {}


def properties(message: WireMessage) -> bytes:
    """The property flags and values of a persistent message (absent or empty ones are
    left out, as pamqp leaves them)."""
    fields: tuple[tuple[int, Any, Callable[[Any], bytes]], ...] = (
        (_CONTENT_TYPE, message.content_type, short_string),
        (_HEADERS, message.headers, field_table),
        (_DELIVERY_MODE, PERSISTENT, _U8.pack),
        (_CORRELATION_ID, message.correlation_id, short_string),
        (_MESSAGE_ID, message.message_id, short_string),
        (_TIMESTAMP_FLAG, message.timestamp, timestamp),
        (_TYPE, message.type, short_string),
    )
    flags = 0
    parts: list[bytes] = []
    for flag, value, encode in fields:
        if value:
            flags |= flag
            parts.append(encode(value))
    return struct.pack(">H", flags) + b"".join(parts)


def short_string(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 255:
        raise TypeError("string exceeds maximum length of 255 bytes")
    return _U8.pack(len(data)) + data


def timestamp(value: datetime) -> bytes:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        value = value.replace(tzinfo=UTC)
    return _TIMESTAMP.pack(int(value.timestamp()))


def field_table(table: Any) -> bytes:
    """A headers table: keys sorted, strings as long strings, integers in the smallest
    type that holds them, everything else as pamqp encodes it."""
    parts: list[bytes] = []
    for key, value in sorted(table.items()):
        name = _names.get(key)
        if name is None:
            name = _name(key)
            if name is None:
                return bytes(pamqp_encode.field_table(dict(table)))
        parts.append(name)
        parts.append(_table_value(value))
    data = b"".join(parts)
    return _U32.pack(len(data)) + data


def _name(key: str) -> bytes | None:
    """A header name as a short string, or None when pamqp would truncate it."""
    data = key.encode("utf-8")
    if len(data) > MAX_KEY_BYTES:
        return None
    name = _U8.pack(len(data)) + data
    if len(_names) < CACHED:
        _names[key] = name
    return name


def _table_value(value: Any) -> bytes:
    kind = type(value)
    if kind is str:
        data: bytes = value.encode("utf-8")
        return b"S" + _U32.pack(len(data)) + data
    if kind is int and -128 <= value <= 127 and not pamqp_encode.DEPRECATED_RABBITMQ_SUPPORT:
        return b"b" + _INT_SMALL.pack(value)
    return bytes(pamqp_encode.encode_table_value(value))


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME_HEAD.pack(kind, channel, len(payload)) + payload + FRAME_END
