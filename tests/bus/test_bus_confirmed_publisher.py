"""The batch publisher's bookkeeping on an aiormq channel, without a broker: a delivery
tag and a confirmation per message in order, one buffer for the writer, each outcome
from its own confirmation, and nothing left registered when the writer takes nothing.
(tests/testing/test_transport_conformance.py runs it against RabbitMQ.)"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from aiormq.exceptions import ChannelClosed, DeliveryError
from pamqp import commands as spec

from bus.wire import amqp_encoding
from bus.wire.rabbitmq_publish import ConfirmedPublisher
from bus.wire.transport import Outcome, Publication, WireMessage


class FakeChannel:
    """What `ConfirmedPublisher` uses of an aiormq channel."""

    def __init__(self, queue_size: int = 0) -> None:
        self.number = 3
        self.max_content_size = 1000
        self.is_closed = False
        self.delivery_tag = 0
        self.confirmations: OrderedDict[int, asyncio.Future[Any]] = OrderedDict()
        self.message_id_delivery_tag: dict[str, int] = {}
        self.write_queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self.registered: list[asyncio.Future[Any]] = []
        """The futures registered with the channel: aiormq fails them on close."""

    def create_future(self) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self.registered.append(future)
        return future

    def close(self, error: BaseException) -> None:
        """What aiormq does to the channel's futures when it closes."""
        self.is_closed = True
        for future in self.registered:
            if not future.done():
                future.set_exception(error)


def publication(message_id: str, exchange: str = "ns.events") -> Publication:
    return Publication(exchange, "Charged", WireMessage(body=b"{}", message_id=message_id,
                                                        type="Charged"))


async def test_each_publication_gets_the_outcome_of_its_own_confirmation() -> None:
    channel = FakeChannel()
    publisher = ConfirmedPublisher(channel, confirm_timeout=0.5)  # type: ignore[arg-type]
    batch = [publication("a"), publication("b", exchange="not a name!"), publication("c"),
             publication("d"), publication("e")]

    async def broker() -> None:
        frame = await channel.write_queue.get()
        expected = b"".join(
            amqp_encoding.publish(3, p.exchange, p.routing_key, p.message, mandatory=False,
                                  max_content=1000)
            for p in batch if p.exchange == "ns.events"
        )
        assert frame.payload == expected  # one buffer, in order, the unencodable left out
        assert list(channel.confirmations) == [1, 2, 3, 4]
        assert channel.message_id_delivery_tag == {"a": 1, "c": 2, "d": 3, "e": 4}
        channel.confirmations[1].set_result(spec.Basic.Ack(1))
        channel.confirmations[2].set_exception(DeliveryError(None, spec.Basic.Nack(2)))
        channel.confirmations[3].set_result(spec.Basic.Ack(3))
        # 4 is never confirmed: it fails when the confirm timeout runs out

    served = asyncio.create_task(broker())
    outcomes, error = await publisher.publish(batch)
    await served
    # a: acked; b: not encodable; c: nacked; d: acked; e: no confirm in time
    assert outcomes == [Outcome.CONFIRMED, Outcome.FAILED, Outcome.FAILED, Outcome.CONFIRMED,
                        Outcome.FAILED]
    assert isinstance(error, ValueError)  # the first error: the exchange name
    assert channel.confirmations[4].cancelled()
    assert channel.message_id_delivery_tag == {}


async def test_a_writer_that_takes_nothing_fails_the_batch_and_frees_its_tags() -> None:
    channel = FakeChannel(queue_size=1)
    channel.write_queue.put_nowait("a frame of another channel the writer never takes")
    publisher = ConfirmedPublisher(channel, confirm_timeout=0.2)  # type: ignore[arg-type]
    outcomes, _ = await asyncio.wait_for(
        publisher.publish([publication("a"), publication("b")]), timeout=5
    )
    assert outcomes == [Outcome.FAILED, Outcome.FAILED]
    assert channel.delivery_tag == 0
    assert not channel.confirmations
    assert channel.message_id_delivery_tag == {}
    # the next batch numbers its messages from 1 again, as the broker will
    channel.write_queue.get_nowait()
    task = asyncio.create_task(publisher.publish([publication("c")]))
    await asyncio.wait_for(channel.write_queue.get(), timeout=5)
    assert list(channel.confirmations) == [1]
    channel.confirmations[1].set_result(spec.Basic.Ack(1))
    assert (await task)[0] == [Outcome.CONFIRMED]


async def test_a_closed_channel_fails_everything_without_writing() -> None:
    channel = FakeChannel()
    channel.is_closed = True
    publisher = ConfirmedPublisher(channel, confirm_timeout=0.2)  # type: ignore[arg-type]
    outcomes, _ = await publisher.publish([publication("a")])
    assert outcomes == [Outcome.FAILED]
    assert channel.write_queue.empty()
    assert channel.delivery_tag == 0


async def test_a_channel_closing_fails_the_confirmations_still_waiting() -> None:
    channel = FakeChannel()
    publisher = ConfirmedPublisher(channel, confirm_timeout=5)  # type: ignore[arg-type]

    async def broker() -> None:
        await channel.write_queue.get()
        channel.confirmations[1].set_result(spec.Basic.Ack(1))
        channel.close(ChannelClosed(406, "PRECONDITION_FAILED"))

    served = asyncio.create_task(broker())
    outcomes, error = await asyncio.wait_for(
        publisher.publish([publication("a"), publication("b")]), timeout=2)
    await served
    assert outcomes == [Outcome.CONFIRMED, Outcome.FAILED]
    assert isinstance(error, ChannelClosed)
    assert all(f.done() for f in channel.registered)  # nothing left registered waiting
