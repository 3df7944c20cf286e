"""Direct decoders of the three frames every delivery and confirm brings: Basic.Deliver,
Basic.Ack and the content header.

pamqp decodes any frame generically: an object built through its validating
constructor, then one lookup and one decoder call per argument or property, the
remaining bytes copied after each. For these three frames, which are nearly all a
consumer and a confirming publisher receive, `unmarshal_method` and `unmarshal_header`
read the fields at known offsets into the same pamqp objects (equal to pamqp's, as
tests/bus/test_bus_amqp_frames.py checks), with the lenient primitives of
`bus.wire.amqp_decoding`; every other frame goes to pamqp's own decoder, and so does a
header with a second flag word. `bus.wire.amqp_decoding.install()` puts them in place.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from pamqp import commands, exceptions
from pamqp.base import Frame
from pamqp.header import ContentHeader

from bus.wire import amqp_decoding

DELIVER = commands.Basic.Deliver
ACK = commands.Basic.Ack
PROPERTIES = commands.Basic.Properties

_INDEX = struct.Struct(">I")
_LONG_LONG = struct.Struct(">q")
_HEADER = struct.Struct(">HHQH")

_SHORTSTR, _OCTET, _TIMESTAMP, _TABLE = range(4)
_KINDS = {"shortstr": _SHORTSTR, "octet": _OCTET, "timestamp": _TIMESTAMP, "table": _TABLE}
_PROPERTIES: tuple[tuple[str, int, int], ...] = tuple(
    (name, PROPERTIES.flags[name], _KINDS[getattr(PROPERTIES, "_" + name)])
    for name in PROPERTIES.__slots__
)
"""(name, flag, kind) of each property, in the order they are written."""


def method_frame(frame_data: bytes) -> Frame:
    """pamqp's `_unmarshal_method_frame`, with Deliver and Ack read here."""
    return unmarshal_method(frame_data, amqp_decoding.ORIGINAL_METHOD_FRAME)


def header_frame(frame_data: bytes) -> ContentHeader:
    """pamqp's `_unmarshal_header_frame`, reading Basic properties here."""
    return unmarshal_header(frame_data, amqp_decoding.ORIGINAL_HEADER_FRAME)


def unmarshal_method(
    frame_data: bytes, fallback: Callable[[bytes], Frame]
) -> Frame:
    """A method frame's payload: Deliver and Ack read here, any other by `fallback`."""
    index = _INDEX.unpack_from(frame_data)[0] if len(frame_data) >= 4 else None
    try:
        if index == DELIVER.index:
            return _deliver(frame_data)
        if index == ACK.index:
            return _ack(frame_data)
    except (struct.error, ValueError, IndexError) as error:
        raise exceptions.UnmarshalingException(DELIVER if index == DELIVER.index else ACK,
                                               error) from error
    return fallback(frame_data)


def unmarshal_header(
    frame_data: bytes, fallback: Callable[[bytes], ContentHeader]
) -> ContentHeader:
    """A content header frame's payload (Basic properties, one flag word)."""
    if len(frame_data) < _HEADER.size or frame_data[13] & 1:
        return fallback(frame_data)
    class_id, weight, body_size, flags = _HEADER.unpack_from(frame_data)
    header = ContentHeader.__new__(ContentHeader)
    header.class_id, header.weight, header.body_size = class_id, weight, body_size
    try:
        header.properties = _properties(flags, frame_data, _HEADER.size)
    except (struct.error, ValueError, IndexError) as error:
        raise exceptions.UnmarshalingException("ContentHeader", error) from error
    return header


def _deliver(data: bytes) -> Frame:
    frame = DELIVER.__new__(DELIVER)
    offset, frame.consumer_tag = _short_string(data, 4)
    frame.delivery_tag = _LONG_LONG.unpack_from(data, offset)[0]
    frame.redelivered = bool(data[offset + 8] & 1)
    offset, frame.exchange = _short_string(data, offset + 9)
    _, frame.routing_key = _short_string(data, offset)
    return frame


def _ack(data: bytes) -> Frame:
    frame = ACK.__new__(ACK)
    frame.delivery_tag = _LONG_LONG.unpack_from(data, 4)[0]
    frame.multiple = bool(data[12] & 1)
    return frame


def _properties(flags: int, data: bytes, offset: int) -> Any:
    properties = PROPERTIES()  # every property absent; the present ones are read below
    for name, kind in _present(flags):
        value: Any
        if kind == _SHORTSTR:  # as `_short_string` reads it, in place
            end = offset + 1 + data[offset]
            value = bytes(data[offset + 1 : end]).decode("utf-8", "replace")
            offset = end
        elif kind == _OCTET:
            value = data[offset]
            offset += 1
        elif kind == _TIMESTAMP:
            consumed, value = amqp_decoding.timestamp(data[offset:])
            offset += consumed
        else:
            consumed, value = amqp_decoding.field_table(data[offset:])
            offset += consumed
        setattr(properties, name, value)
    return properties


_PRESENT: dict[int, tuple[tuple[str, int], ...]] = {}


def _present(flags: int) -> tuple[tuple[str, int], ...]:
    """(name, kind) of each property `flags` says is present, in the order they are
    written (remembered per flag word: a sender uses a few)."""
    present = _PRESENT.get(flags)
    if present is None:
        present = tuple((name, kind) for name, flag, kind in _PROPERTIES if flags & flag)
        if len(_PRESENT) < 256:
            _PRESENT[flags] = present
    return present


def _short_string(data: bytes, offset: int) -> tuple[int, str]:
    """A short string at `offset` (bytes that are not UTF-8 become U+FFFD, as
    `amqp_decoding.short_str` reads them) and the offset after it."""
    end = offset + 1 + data[offset]
    return end, bytes(data[offset + 1 : end]).decode("utf-8", "replace")
