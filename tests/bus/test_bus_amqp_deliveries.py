"""Deliveries read by the frame reader: assembled into the message aiormq's channel
reader assembles, handed to the consumer in order, and sent through the channel's
queue as before whenever the channel has frames waiting or a frame does not fit.
(The RabbitMQ suites under tests/bus run the whole path against the broker.)"""

from __future__ import annotations

import asyncio
from typing import Any

from aiormq.abc import DeliveredMessage
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from bus.wire.amqp_deliveries import Deliveries, ImmediateConsumer


class Channel:
    """The parts of an aiormq channel that `Deliveries` uses."""

    def __init__(self, consumer: Any) -> None:
        self.frames: asyncio.Queue[Any] = asyncio.Queue(maxsize=10)
        self.consumers: dict[str, Any] = {"ctag": consumer}
        self.is_closed = False
        self.tasks: list[asyncio.Task[Any]] = []

    def create_task(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        return task

    @staticmethod
    def _on_consumer_done(task: asyncio.Task[Any]) -> None:
        pass


def delivery(tag: int, body: bytes, parts: int = 1) -> list[Any]:
    size = -(-len(body) // parts) if body else 0
    chunks = [body[i : i + size] for i in range(0, len(body), size)] if body else []
    return [
        spec.Basic.Deliver(consumer_tag="ctag", delivery_tag=tag, exchange="x",
                           routing_key="r"),
        ContentHeader(0, len(body), spec.Basic.Properties(message_id=f"m{tag}")),
        *[ContentBody(c) for c in chunks],
    ]


async def read(frames: list[Any], channel: Channel) -> list[Any]:
    """Routes `frames` of channel 1, hands over, lets the loop run; the frames that
    were sent to the queue."""
    deliveries = Deliveries(asyncio.get_running_loop())
    queued = [q for f in frames for q in deliveries.route(1, channel, f)]
    deliveries.hand_over()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return queued


def test_deliveries_reach_an_immediate_consumer_whole_and_in_order() -> None:
    got: list[DeliveredMessage] = []
    channel = Channel(ImmediateConsumer(got.append))
    frames = delivery(1, b"abc") + delivery(2, b"") + delivery(3, b"0123456789", parts=3)

    queued = asyncio.run(read(frames, channel))

    assert queued == []
    assert [m.delivery.delivery_tag for m in got] == [1, 2, 3]
    assert [m.body for m in got] == [b"abc", b"", b"0123456789"]
    assert all(m.channel is channel for m in got)
    assert got[0].header.properties.message_id == "m1"
    assert got[0].routing_key == "r" and got[0].exchange == "x"


def test_an_async_consumer_gets_a_task_of_the_channel_as_aiormq_gives_it() -> None:
    got: list[bytes] = []

    async def consumer(message: DeliveredMessage) -> None:
        got.append(message.body)

    channel = Channel(consumer)
    asyncio.run(read(delivery(1, b"abc"), channel))
    assert got == [b"abc"] and len(channel.tasks) == 1


def test_a_delivery_behind_frames_in_the_queue_goes_through_the_queue() -> None:
    got: list[DeliveredMessage] = []
    channel = Channel(ImmediateConsumer(got.append))
    channel.frames.put_nowait((0, spec.Basic.ConsumeOk(consumer_tag="ctag")))
    frames = delivery(1, b"abc")

    assert asyncio.run(read(frames, channel)) == frames
    assert got == []


def test_a_frame_that_does_not_fit_sends_what_was_read_to_the_queue() -> None:
    got: list[DeliveredMessage] = []
    channel = Channel(ImmediateConsumer(got.append))
    deliver, header, body = delivery(1, b"abc")
    cancel = spec.Basic.Cancel(consumer_tag="ctag")

    assert asyncio.run(read([deliver, header, cancel], channel)) == [deliver, header, cancel]
    assert asyncio.run(read([deliver, body], channel)) == [deliver, body]
    assert got == []


def test_no_delivery_is_handed_over_on_a_closed_channel() -> None:
    got: list[DeliveredMessage] = []
    channel = Channel(ImmediateConsumer(got.append))

    async def closed_before_handing_over() -> None:
        deliveries = Deliveries(asyncio.get_running_loop())
        for frame in delivery(1, b"abc"):
            deliveries.route(1, channel, frame)
        deliveries.hand_over()
        channel.is_closed = True
        await asyncio.sleep(0)

    asyncio.run(closed_before_handing_over())
    assert got == []
    frames = delivery(2, b"abc")
    assert asyncio.run(read(frames, channel)) == frames  # closed: aiormq's path
    assert got == []


def test_a_failing_consumer_does_not_stop_the_others(caplog: Any) -> None:
    got: list[int] = []

    def deliver(message: DeliveredMessage) -> None:
        if message.delivery.delivery_tag == 1:
            raise RuntimeError("boom")
        got.append(message.delivery.delivery_tag)

    channel = Channel(ImmediateConsumer(deliver))
    asyncio.run(read(delivery(1, b"a") + delivery(2, b"b"), channel))
    assert got == [2]
    assert "Consumer callback failed" in caplog.text
