"""Deliveries read by the connection's frame reader itself, without the channel's queue.

aiormq hands each of a delivery's frames (Basic.Deliver, the content header, the
body) through the channel's queue to the channel's reader task, which assembles the
message and starts one more task per message for the consumer. `Deliveries` does
that assembly in `bus.wire.amqp_reader`'s loop, as the frames are split out, when the
channel's queue is empty as its Basic.Deliver arrives (so nothing the channel has
not handled yet comes before it); otherwise the frames go through the queue as
before. The message is the same `DeliveredMessage`. A consumer registered as an
`ImmediateConsumer` is then called with a batch of messages in one loop callback
(scheduled after every consumer task started before, so the order holds); any other
consumer gets its task as aiormq starts it. A frame that does not fit (a method
frame before the body is complete, a body before the header) sends the frames read so
far, and it, to the channel's queue, where aiormq's reader deals with them as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiormq.abc import DeliveredMessage
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

log = logging.getLogger("aiormq.channel")  # where aiormq logs a consumer's failure

DELIVER = spec.Basic.Deliver


class ImmediateConsumer:
    """A consumer callback that does its work without awaiting: aiormq's channel
    reader awaits it in a task of its own, the batch reader calls `deliver` directly."""

    def __init__(self, deliver: Callable[[DeliveredMessage], None]) -> None:
        self.deliver = deliver

    async def __call__(self, message: DeliveredMessage) -> None:
        self.deliver(message)


@dataclass(slots=True)
class _Reading:
    """A delivery whose frames are being read: Basic.Deliver, then its header and
    body frames."""

    deliver: Any
    header: ContentHeader | None = None
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    bodies: list[ContentBody] = field(default_factory=list)

    def take(self, frame: Any) -> bool:
        """Whether `frame` is this delivery's next frame (then it is kept)."""
        if self.header is None:
            if not isinstance(frame, ContentHeader):
                return False
            self.header = frame
            return True
        if not isinstance(frame, ContentBody):
            return False
        self.bodies.append(frame)
        self.parts.append(frame.value)
        self.size += len(frame.value)
        return True

    @property
    def complete(self) -> bool:
        return self.header is not None and self.size >= self.header.body_size

    def frames(self) -> list[Any]:
        """The frames read so far, as they came."""
        return [self.deliver, *([self.header] if self.header is not None else []), *self.bodies]

    def message(self, channel: Any) -> DeliveredMessage:
        assert self.header is not None  # complete
        parts = self.parts
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        return DeliveredMessage(
            delivery=self.deliver, header=self.header, body=body, channel=channel
        )


class Deliveries:
    """One connection's deliveries in reading, by channel number."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._reading: dict[int, _Reading] = {}
        self._ready: list[tuple[ImmediateConsumer, DeliveredMessage]] = []

    def route(self, number: int, channel: Any, frame: Any) -> Sequence[Any]:
        """Reads `frame` of channel `number` here when it belongs to a delivery read
        here (returns nothing), else the frames for the channel's queue, in order."""
        reading = self._reading.get(number)
        if reading is not None:
            if reading.take(frame):
                if reading.complete:
                    del self._reading[number]
                    self._deliver(channel, reading)
                return ()
            del self._reading[number]
            return [*reading.frames(), frame]
        if type(frame) is DELIVER and not channel.is_closed and channel.frames.empty():
            self._reading[number] = _Reading(frame)
            return ()
        return (frame,)

    def reading(self, number: int) -> bool:
        """Whether a delivery on channel `number` is half read here."""
        return number in self._reading

    def hand_over(self) -> None:
        """Schedules the calls of immediate consumers for the messages read so far."""
        if self._ready:
            ready, self._ready = self._ready, []
            self._loop.call_soon(_call, ready)

    def _deliver(self, channel: Any, reading: _Reading) -> None:
        """What aiormq's channel reader does with a complete delivery."""
        message = reading.message(channel)
        tag = reading.deliver.consumer_tag
        if tag is None:
            log.warning("Frame %r has no consumer tag", reading.deliver)
            return
        consumer = channel.consumers.get(tag)
        if consumer is None:
            return
        immediate = getattr(consumer, "__wrapped__", consumer)
        if isinstance(immediate, ImmediateConsumer):
            self._ready.append((immediate, message))
            return
        task = channel.create_task(consumer(message))
        task.add_done_callback(channel._on_consumer_done)


def _call(ready: list[tuple[ImmediateConsumer, DeliveredMessage]]) -> None:
    for consumer, message in ready:
        if message.channel.is_closed:
            continue  # aiormq cancels the consumer tasks of a closed channel
        try:
            consumer.deliver(message)
        except Exception:
            log.exception("Consumer callback failed")
