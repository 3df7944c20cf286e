"""Frame decoding that no message can break: lenient replacements for pamqp's decoders.

pamqp (beneath aiormq and aio-pika) raises while decoding a content header whose short
strings (message_id, type, correlation_id, header names) are not UTF-8, whose
timestamp lies past year 9999, or whose header tables nest deeper than Python's
recursion limit. Such an error is raised in the connection's frame reader: the
connection closes, the broker delivers the same message again to the reconnected
consumer, and the consumer is wedged for good - one foreign message stops a queue.

`install()` makes those decoders total: invalid UTF-8 is decoded with U+FFFD in
place of the bad bytes (the pipeline then dead-letters the message, e.g. as an unknown
type), an impossible timestamp is read as absent, and a table or array nested deeper
than `MAX_HEADER_DEPTH` is skipped by its length and replaced by `TRUNCATED`. Every
other value decodes as pamqp decodes it.
"""

from __future__ import annotations

import datetime
import struct
from typing import Any

from pamqp import decode as pamqp_decode
from pamqp import frame as pamqp_frame

MAX_HEADER_DEPTH = 32
"""Deepest nesting of tables and arrays in headers that is decoded."""

TRUNCATED = "(nested too deeply: not decoded)"
"""What a table or array nested deeper than `MAX_HEADER_DEPTH` is read as."""

_TIMESTAMP = struct.Struct(">Q")
_LENGTH = struct.Struct(">I")
_LONG_STRING = ord("S")


def short_str(value: bytes) -> tuple[int, str]:
    """A short string; bytes that are not UTF-8 become U+FFFD."""
    try:
        length = value[0]
    except IndexError as err:
        raise ValueError("Could not unpack short string value") from err
    return length + 1, bytes(value[1 : length + 1]).decode("utf-8", "replace")


def timestamp(value: bytes) -> tuple[int, datetime.datetime | None]:
    """A timestamp (seconds, or milliseconds past year 2106, as pamqp reads it); None
    when it names no date Python can hold."""
    try:
        (seconds,) = _TIMESTAMP.unpack(value[0:8])
    except struct.error as err:
        raise ValueError("Could not unpack timestamp value") from err
    moment: float = seconds / 1000.0 if seconds > 0xFFFFFFFF else seconds
    try:
        return 8, datetime.datetime.fromtimestamp(moment, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return 8, None


def field_table(value: bytes) -> tuple[int, Any]:
    return _table(value, 1)


def field_array(value: bytes) -> tuple[int, Any]:
    return _array(value, 1)


def embedded_value(value: bytes) -> tuple[int, Any]:
    return _embedded(value, 1)


def _length(value: bytes) -> int:
    try:
        (length,) = _LENGTH.unpack(value[0:4])
    except struct.error as err:
        raise ValueError("Could not unpack data") from err
    if 4 + length > len(value):
        raise ValueError("Field table length exceeds available data")
    return int(length)


def _table(value: bytes, depth: int) -> tuple[int, Any]:
    end = 4 + _length(value)
    if depth > MAX_HEADER_DEPTH:
        return end, TRUNCATED
    data: dict[str, Any] = {}
    offset = 4
    while offset < end:
        key_length = value[offset]
        offset += 1
        if offset + key_length > end:
            raise ValueError("Field table key length exceeds data")
        key = bytes(value[offset : offset + key_length]).decode("utf-8", "replace")
        offset += key_length
        if offset + 5 <= end and value[offset] == _LONG_STRING:
            offset = _long_string(value, offset + 1, end, data, key)
            continue
        consumed, data[key] = _embedded(value[offset:end], depth)
        offset += consumed
    return end, data


def _long_string(value: bytes, offset: int, end: int, data: dict[str, Any], key: str) -> int:
    """The long string at `offset` of a table ending at `end`, read into `data[key]`
    in place (the commonest header value) as pamqp's `long_str` reads it from the
    table's rest: UTF-8 text, else the bytes; the offset after it."""
    length: int = _LENGTH.unpack_from(value, offset)[0]
    raw = bytes(value[offset + 4 : min(offset + 4 + length, end)])
    try:
        data[key] = raw.decode("utf-8")
    except UnicodeDecodeError:
        data[key] = raw
    return offset + 4 + length


def _array(value: bytes, depth: int) -> tuple[int, Any]:
    end = 4 + _length(value)
    if depth > MAX_HEADER_DEPTH:
        return end, TRUNCATED
    data: list[Any] = []
    offset = 4
    while offset < end:
        consumed, item = _embedded(value[offset:end], depth)
        offset += consumed
        data.append(item)
    return end, data


def _embedded(value: bytes, depth: int) -> tuple[int, Any]:
    if not value:
        return 0, None
    kind = value[0:1]
    if kind == b"F":
        consumed, result = _table(value[1:], depth + 1)
    elif kind == b"A":
        consumed, result = _array(value[1:], depth + 1)
    elif kind == b"T":
        consumed, result = timestamp(value[1:])
    else:
        decoder = _ORIGINAL_TABLE_MAPPING.get(kind)
        if decoder is None:
            raise ValueError(f"Unknown type: {kind!r}")
        consumed, result = decoder(value[1:])
    return consumed + 1, result


_ORIGINAL_TABLE_MAPPING: dict[bytes, Any] = dict(pamqp_decode.TABLE_MAPPING)

_REPLACEMENTS: dict[str, Any] = {
    "short_str": short_str,
    "timestamp": timestamp,
    "field_table": field_table,
    "field_array": field_array,
    "embedded_value": embedded_value,
}


ORIGINAL_METHOD_FRAME = pamqp_frame._unmarshal_method_frame
ORIGINAL_HEADER_FRAME = pamqp_frame._unmarshal_header_frame
"""pamqp's own frame decoders, for the frames `bus.wire.amqp_frames` does not read."""


def install() -> None:
    """Puts the lenient decoders in place of pamqp's, and the direct decoders of
    `bus.wire.amqp_frames` in front of its method and header frame decoding
    (idempotent, process-wide)."""
    from bus.wire import amqp_frames  # it reads this module's decoders

    for name, function in _REPLACEMENTS.items():
        setattr(pamqp_decode, name, function)
    pamqp_decode.METHODS.update(
        shortstr=short_str, timestamp=timestamp, table=field_table, array=field_array
    )
    pamqp_decode.TABLE_MAPPING.update({b"T": timestamp, b"F": field_table, b"A": field_array})
    pamqp_frame._unmarshal_method_frame = amqp_frames.method_frame
    pamqp_frame._unmarshal_header_frame = amqp_frames.header_frame


def installed() -> bool:
    return (
        pamqp_decode.METHODS.get("shortstr") is short_str
        and pamqp_frame._unmarshal_header_frame.__module__ == "bus.wire.amqp_frames"
    )

