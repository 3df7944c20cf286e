"""The batch frame reader splits a byte stream into the frames pamqp reads one by one,
wherever the reads cut it, refuses what pamqp refuses, and is the reader of the
RabbitMQ transport's connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pamqp.frame
import pytest
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError
from hypothesis import given, settings
from hypothesis import strategies as st
from live_services import AMQP_URL
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pamqp.heartbeat import Heartbeat

from bus.wire import amqp_decoding, amqp_reader
from bus.wire.rabbitmq import RabbitMQTransport

amqp_decoding.install()


def stream() -> list[tuple[int, Any]]:
    """A consumer's and a publisher's usual frames, on two channels."""
    properties = spec.Basic.Properties(
        message_id="m-1", message_type="OrderPlaced", headers={"x-a": 1, "x-b": "two"},
        delivery_mode=2, content_type="application/json",
    )
    body = b'{"order": 1}' * 30
    return [
        (1, spec.Basic.Deliver(consumer_tag="ctag", delivery_tag=7, redelivered=True,
                               exchange="sagas", routing_key="orders.placed")),
        (1, ContentHeader(0, len(body), properties)),
        (1, ContentBody(body)),
        (0, Heartbeat()),
        (2, spec.Basic.Ack(delivery_tag=12, multiple=True)),
        (2, spec.Basic.Nack(delivery_tag=13)),
        (1, spec.Basic.Cancel(consumer_tag="ctag")),
        (0, spec.Connection.Blocked(reason="low on memory")),
        (1, spec.Channel.Close(reply_code=404, reply_text="NOT_FOUND", class_id=60, method_id=20)),
    ]


def wire(frames: list[tuple[int, Any]]) -> bytes:
    return b"".join(pamqp.frame.marshal(frame, channel) for channel, frame in frames)


def pamqp_reads(data: bytes) -> list[tuple[int, int, Any]]:
    """aiormq's reading: pamqp's `unmarshal` on one frame's bytes after another."""
    read, offset = [], 0
    while offset < len(data):
        _, _, size = pamqp.frame.frame_parts(data[offset:])
        assert size is not None
        end = offset + 8 + size
        read.append(pamqp.frame.unmarshal(data[offset:end]))
        offset = end
    return read


def same(ours: list[tuple[int, int, Any]], theirs: list[tuple[int, int, Any]]) -> None:
    assert [(w, c, type(f)) for w, c, f in ours] == [(w, c, type(f)) for w, c, f in theirs]
    for (_, _, a), (_, _, b) in zip(ours, theirs, strict=True):
        assert vars(a) == vars(b) if hasattr(a, "__dict__") else a == b


def test_a_whole_stream_is_read_as_pamqp_reads_it_frame_by_frame() -> None:
    data = wire(stream())
    frames, used = amqp_reader.frames_in(data)
    assert used == len(data)
    same(frames, pamqp_reads(data))


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(1, 2000), max_size=8))
def test_reads_cut_anywhere_give_the_same_frames(cuts: list[int]) -> None:
    data = wire(stream())
    frames: list[tuple[int, int, Any]] = []
    pending, offset = b"", 0
    for cut in [*sorted(cuts), len(data)]:
        if cut <= offset:
            continue
        pending, offset = pending + data[offset:cut], cut
        got, used = amqp_reader.frames_in(pending)
        frames += got
        pending = pending[used:]
        if pending:
            assert amqp_reader.missing(pending) > 0
    assert pending == b""
    same(frames, pamqp_reads(data))


def test_missing_counts_the_rest_of_the_next_frame() -> None:
    data = wire(stream()[:1])
    assert amqp_reader.missing(b"") == 7
    assert amqp_reader.missing(data[:3]) == 4
    assert amqp_reader.missing(data[:10]) == len(data) - 10


@pytest.mark.parametrize("broken", [
    lambda d: d[:-1] + b"\x00",  # frame end byte wrong
    lambda d: b"\x09" + d[1:],  # unknown frame type
    lambda d: d[:7] + b"\xff\xff\xff\xff" + d[11:],  # unknown method
    lambda d: b"\x01\x00\x01\x00\x00\x00\x00\xce",  # method frame without size
])
def test_a_broken_frame_is_refused_as_aiormq_refuses_it(broken: Any) -> None:
    data = broken(wire(stream()[:1]))
    with pytest.raises(InvalidFrameError):
        amqp_reader.frames_in(data)


def test_a_socket_that_ends_inside_a_frame_is_a_connection_error() -> None:
    async def read() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(wire(stream()[:1])[:5])
        reader.feed_eof()
        pending = await amqp_reader._more(reader, b"")
        await amqp_reader._more(reader, pending)

    with pytest.raises(AMQPConnectionError, match="unexpectedly closed"):
        asyncio.run(read())


def test_a_frame_larger_than_a_read_is_read_whole() -> None:
    body = b"x" * (amqp_reader.READ_SIZE * 2)
    data = wire([(1, ContentBody(body))])

    async def read() -> list[tuple[int, int, Any]]:
        reader = asyncio.StreamReader()
        reader.feed_data(data[7:])
        pending = await amqp_reader._more(reader, data[:7])  # header already read
        return amqp_reader.frames_in(pending)[0]

    frames = asyncio.run(read())
    assert len(frames) == 1 and frames[0][2].value == body


def test_the_transport_connects_with_the_batch_reader() -> None:

    async def connect() -> type:
        transport = RabbitMQTransport(AMQP_URL)
        await transport.connect()
        try:
            assert transport._connection is not None
            return type(transport._connection.transport.connection)  # type: ignore[attr-defined]
        finally:
            await transport.close()

    assert amqp_reader.available()
    assert asyncio.run(connect()) is amqp_reader.SagabusConnection


class FakeChannel:
    """What the reader's dispatch uses of an aiormq channel."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[Any] = asyncio.Queue(maxsize=10)
        self.is_closed = False
        self.consumers: dict[str, Any] = {}
        self.confirmed: list[Any] = []

    async def _on_confirm_frame(self, frame: Any) -> None:
        self.confirmed.append(frame)

    def queued(self) -> list[Any]:
        items = []
        while not self.frames.empty():
            items.append(self.frames.get_nowait()[1])
        return items


async def dispatch(channels: dict[int, Any], frames: list[tuple[int, Any]]) -> bool:
    from bus.wire.amqp_deliveries import Deliveries

    connection = amqp_reader.SagabusConnection(AMQP_URL)
    connection.channels = channels  # type: ignore[assignment]
    received = [(0, number, frame) for number, frame in frames]
    return await connection._dispatch(received, Deliveries(asyncio.get_running_loop()))


async def test_a_confirm_skips_an_empty_queue_and_waits_behind_a_full_one() -> None:
    channel = FakeChannel()
    ack, nack = spec.Basic.Ack(delivery_tag=1), spec.Basic.Nack(delivery_tag=2)
    assert not await dispatch({1: channel}, [(1, ack), (1, nack)])
    assert channel.confirmed == [ack, nack] and channel.queued() == []

    get_ok = spec.Basic.GetEmpty()
    assert not await dispatch({1: channel}, [(1, get_ok), (1, ack)])
    assert channel.queued() == [get_ok, ack]  # in order, behind what the channel has


async def test_frames_inside_a_half_read_delivery_go_to_the_queue_in_order() -> None:
    channel = FakeChannel()
    deliver, header, _ = stream()[:3]
    ack = spec.Basic.Ack(delivery_tag=1)
    await dispatch({1: channel}, [deliver, header, (1, ack)])
    assert channel.confirmed == []
    assert channel.queued() == [deliver[1], header[1], ack]


async def test_channel_close_frees_the_number_and_unknown_channels_are_dropped() -> None:
    channel = FakeChannel()
    channels: dict[int, Any] = {1: channel}
    close = spec.Channel.Close(reply_code=404, reply_text="NOT_FOUND", class_id=60,
                               method_id=20)
    await dispatch(channels, [(1, close), (7, spec.Basic.Ack(delivery_tag=1))])
    assert channels == {} and channel.queued() == [close]


async def test_a_full_channel_queue_holds_the_reader_until_the_channel_takes() -> None:
    channel = FakeChannel()
    frames = [(1, spec.Basic.GetEmpty()) for _ in range(15)]
    reading = asyncio.create_task(dispatch({1: channel}, frames))
    await asyncio.sleep(0.05)
    assert not reading.done() and channel.frames.full()
    taken = channel.queued()
    assert not await asyncio.wait_for(reading, 2)
    assert len(taken) + len(channel.queued()) == 15


async def test_close_ok_ends_the_reader() -> None:
    assert await dispatch({}, [(0, Heartbeat()), (0, spec.Connection.CloseOk())])
