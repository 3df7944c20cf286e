"""The connection's frame reader: every frame the broker sends, read in batches.

aiormq's reader takes one frame per turn: a lock, three `readexactly` calls, a
`BytesIO`, pamqp's generic `unmarshal`, then an awaited put into the channel's queue.
A consumer with a hundred deliveries in flight gets three frames per delivery and
pays that for each. `SagabusConnection` replaces only that loop: it reads what the
socket has (`StreamReader.read`, or `readexactly` for the rest of a large frame),
splits every complete frame out of it in one pass (`frames_in`) and hands each one
on exactly as aiormq does - connection frames to aiormq's own handlers (close,
heartbeat, blocked, unblocked, update-secret, channel close-ok), channel frames into
the channel's bounded queue, waiting when it is full. Two kinds skip that queue
when it is empty (nothing the channel has not handled comes before them): a
publisher confirm goes straight to the channel's own handler, and a delivery is
assembled here (`bus.wire.amqp_deliveries`). Everything else (opening,
heartbeats sent, the writer, closing, errors, the channel readers) stays aiormq's.

Frames decode as pamqp decodes them: method frames through pamqp's method decoder
(Deliver and Ack read directly once `bus.wire.amqp_decoding.install()` ran), headers
through its header decoder, bodies as `ContentBody`; a frame with a bad end byte,
no size, an unknown type or a heartbeat goes through `pamqp.frame.unmarshal` on the
same bytes, so a broken frame raises the same `InvalidFrameError` and closes the
connection as before. A socket that ends, fails or resets raises the same
`AMQPConnectionError`.

aiormq keeps the reader and its handlers private (`Connection.__reader`); the
subclass overrides them by their mangled names. `available()` checks that the
installed aiormq has them; when it does not, `connection_class()` is aio-pika's own
and aiormq's reader runs.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import UnderlayConnection
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError
from pamqp import commands as spec
from pamqp import constants
from pamqp import frame as pamqp_frame
from pamqp.body import ContentBody
from pamqp.exceptions import PAMQPException
from pamqp.heartbeat import Heartbeat

from bus.wire.amqp_deliveries import Deliveries

log = logging.getLogger("aiormq.connection")  # aiormq's own reader logs there

READ_SIZE = 65536
"""Bytes asked of the socket per read (what is there is taken, up to this)."""

_FRAME_HEADER = struct.Struct(">BHI")
_HEADER_SIZE = constants.FRAME_HEADER_SIZE
_FRAME_END = constants.FRAME_END
_METHOD, _HEADER, _BODY = constants.FRAME_METHOD, constants.FRAME_HEADER, constants.FRAME_BODY

_CONFIRMS = (spec.Basic.Ack, spec.Basic.Nack)

ReceivedFrame = tuple[int, int, Any]
"""(bytes the frame took, channel number, the pamqp frame), as aiormq reads them."""

_PRIVATE = (
    "_Connection__reader", "_Connection__heartbeat", "_Connection__handle_close",
    "_Connection__handle_channel_close_ok", "_Connection__handle_channel_update_secret_ok",
    "_Connection__handle_connection_blocked", "_Connection__handle_connection_unblocked",
    "is_connection_was_stuck",
)


def available() -> bool:
    """Whether the installed aiormq has the private reader and handlers used here."""
    return all(hasattr(aiormq.Connection, name) for name in _PRIVATE) and all(
        hasattr(aiormq.Channel, name) for name in ("_on_confirm_frame", "_on_consumer_done")
    )


def frames_in(data: bytes) -> tuple[list[ReceivedFrame], int]:
    """Every complete frame at the start of `data`, and the bytes they take."""
    frames: list[ReceivedFrame] = []
    offset, size = 0, len(data)
    while size - offset >= _HEADER_SIZE:
        kind, channel, length = _FRAME_HEADER.unpack_from(data, offset)
        end = offset + _HEADER_SIZE + length + 1
        if end > size:
            break
        frames.append((end - offset, channel, _decode(data, offset, end, kind, length)))
        offset = end
    return frames, offset


def missing(pending: bytes) -> int:
    """Bytes still to read before the next frame in `pending` is complete."""
    if len(pending) < _HEADER_SIZE:
        return _HEADER_SIZE - len(pending)
    length: int = _FRAME_HEADER.unpack_from(pending)[2]
    return _HEADER_SIZE + length + 1 - len(pending)


def _decode(data: bytes, start: int, end: int, kind: int, length: int) -> Any:
    try:
        if length and data[end - 1] == _FRAME_END:
            payload = data[start + _HEADER_SIZE : end - 1]
            if kind == _METHOD:
                return pamqp_frame._unmarshal_method_frame(payload)
            if kind == _HEADER:
                return pamqp_frame._unmarshal_header_frame(payload)
            if kind == _BODY:
                return ContentBody(payload)
        # heartbeats and anything malformed: exactly as pamqp reads the same bytes
        return pamqp_frame.unmarshal(data[start:end])[2]
    except PAMQPException as e:
        raise InvalidFrameError(str(e)) from e


async def _more(stream: asyncio.StreamReader, pending: bytes) -> bytes:
    """`pending` and what the socket has next: at least the rest of the next frame
    when it is larger than a read, else what is there (at least one byte)."""
    need = missing(pending)
    try:
        if need > READ_SIZE:
            data = await stream.readexactly(need)
        else:
            data = await stream.read(READ_SIZE)
            if not data:
                raise asyncio.IncompleteReadError(pending, len(pending) + need)
    except asyncio.IncompleteReadError as e:
        raise AMQPConnectionError(
            "Server connection unexpectedly closed. "
            f"Read {len(e.partial)} bytes but {e.expected} bytes expected",
        ) from e
    except ConnectionRefusedError as e:
        raise AMQPConnectionError(f"Server connection refused: {e!r}") from e
    except ConnectionResetError as e:
        raise AMQPConnectionError(f"Server connection reset: {e!r}") from e
    except ConnectionError as e:
        raise AMQPConnectionError(f"Server connection error: {e!r}") from e
    except OSError as e:
        raise AMQPConnectionError(f"Server communication error: {e!r}") from e
    return pending + data if pending else data


class SagabusConnection(aiormq.Connection):
    """aiormq's connection with the batch frame reader."""

    async def _Connection__reader(self, frame_receiver: Any) -> None:
        getattr(self, "_Connection__connection_unblocked").set()  # noqa: B009
        self.connected.set()
        if self.heartbeat_timeout > 0:
            self.create_task(getattr(self, "_Connection__heartbeat")())  # noqa: B009
        stream: asyncio.StreamReader = frame_receiver.reader
        deliveries = Deliveries(self.loop)
        pending = b""
        try:
            while True:
                pending = await _more(stream, pending)
                frames, used = frames_in(pending)
                pending = pending[used:]
                self._Connection__last_frame_time = self.loop.time()
                if await self._dispatch(frames, deliveries):
                    return
        except asyncio.CancelledError:
            if self.is_connection_was_stuck:
                log.warning(
                    "Server connection %r was stuck. No frames were received in %d seconds.",
                    self, getattr(self, "_Connection__heartbeat_grace_timeout"),  # noqa: B009
                )
                self._writer_task.cancel()
            raise

    async def _dispatch(self, frames: list[ReceivedFrame], deliveries: Deliveries) -> bool:
        """Hands each frame on as aiormq's reader does, a delivery's frames to
        `deliveries` when its channel's queue is empty; True after Connection.Close-Ok
        (the last frame on the connection)."""
        debug = log.isEnabledFor(logging.DEBUG)
        channels = self.channels
        for weight, number, frame in frames:
            if debug:
                log.debug("Received frame %r in channel #%d weight=%s on %r",
                          frame, number, weight, self)
            if number == 0:
                if await self._connection_frame(frame):
                    return True
                continue
            channel: Any = channels.get(number)
            if channel is None:
                log.error("Got frame for closed channel %d: %r", number, frame)
                continue
            if isinstance(frame, (spec.Channel.Close, spec.Channel.CloseOk)):
                # the broker confirmed the close: the number is free
                channels.pop(number, None)
            queue: asyncio.Queue[Any] = channel.frames
            if (type(frame) in _CONFIRMS and queue.empty() and not channel.is_closed
                    and not deliveries.reading(number)):
                # what the channel's reader does with it, without the queue's hops
                await channel._on_confirm_frame(frame)
                continue
            for queued in deliveries.route(number, channel, frame):
                if queue.full():
                    deliveries.hand_over()
                    await queue.put((weight, queued))
                else:
                    queue.put_nowait((weight, queued))
        deliveries.hand_over()
        return False

    async def _connection_frame(self, frame: Any) -> bool:
        """A frame of channel 0, to aiormq's handler; True for Close-Ok."""
        match frame:
            case spec.Connection.CloseOk():
                return True
            case spec.Connection.Close():
                await getattr(self, "_Connection__handle_close")(frame)  # noqa: B009
            case Heartbeat():
                pass
            case spec.Channel.CloseOk():
                await getattr(self, "_Connection__handle_channel_close_ok")(frame)  # noqa: B009
            case spec.Connection.UpdateSecretOk():
                await getattr(self, "_Connection__handle_channel_update_secret_ok")(frame)  # noqa: B009
            case spec.Connection.Blocked():
                await getattr(self, "_Connection__handle_connection_blocked")(frame)  # noqa: B009
            case spec.Connection.Unblocked():
                await getattr(self, "_Connection__handle_connection_unblocked")(frame)  # noqa: B009
            case _:
                log.error("Unexpected frame %r", frame)
        return False


class _Underlay(UnderlayConnection):
    @classmethod
    async def make_connection(
        cls, url: Any, timeout: Any = None, **kwargs: Any  # noqa: ASYNC109 (aio-pika's signature)
    ) -> aiormq.abc.AbstractConnection:
        connection = SagabusConnection(url, **kwargs)
        await asyncio.wait_for(connection.connect(), timeout=timeout)
        await connection.ready()
        return connection


class PikaConnection(aio_pika.Connection):
    """aio-pika's connection on a `SagabusConnection`."""

    async def connect(self, timeout: Any = None) -> None:  # noqa: ASYNC109 (aio-pika's)
        self.transport = await _Underlay.connect(
            self.url, self._on_connection_close, timeout=timeout, **self.kwargs,
        )
        await self._on_connected()


def connection_class() -> type[aio_pika.Connection]:
    """The aio-pika connection class to connect with: ours when aiormq allows it."""
    return PikaConnection if available() else aio_pika.Connection
