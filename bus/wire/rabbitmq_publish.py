"""Publishing a batch on one aiormq channel in confirm mode: one write, one wait.

aiormq's `basic_publish` publishes one message per call: a coroutine, a lock, a
timeout scope, the frames marshalled by pamqp's generic encoder, and a wait until the
connection's writer has written them before the next message may go. A batch of a
hundred is a hundred trips through the event loop. `ConfirmedPublisher` writes the
whole batch as one buffer (`bus.wire.amqp_encoding`, the same bytes) and then waits
for every confirm together, with the same bookkeeping `basic_publish` keeps on the
channel (delivery tags and their confirmation futures, message ids for returned
messages), so that aiormq's frame reader settles them exactly as before: a broker
ack confirms, a nack or a closed channel fails, a mandatory message with no queue
comes back as returned.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import replace

from aiormq import Channel as RawChannel
from aiormq.abc import ChannelFrame

from bus.wire import amqp_encoding
from bus.wire.rabbitmq_messages import outcome
from bus.wire.transport import Outcome, Publication

Sent = tuple["asyncio.Future[object]", int]
"""A publish handed to the writer: its confirmation and its delivery tag."""

Batch = tuple[list["Sent | None"], "asyncio.Future[object]"]
"""A batch handed to the writer: each publish (None: not encodable), and the future
that fails when the channel closes."""


class ConfirmedPublisher:
    """The publisher of one channel (opened with publisher confirms); a new channel
    after a reconnect gets a new one."""

    def __init__(self, channel: RawChannel, confirm_timeout: float) -> None:
        self.channel = channel
        self._confirm_timeout = confirm_timeout
        self._lock = asyncio.Lock()

    @property
    def is_closed(self) -> bool:
        return bool(self.channel.is_closed)

    async def publish(
        self, publications: Sequence[Publication]
    ) -> tuple[list[Outcome], BaseException | None]:
        """One outcome per publication, and the first error seen (for the log)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._confirm_timeout
        frames, ids, error = self._encode(publications)
        batch = await self._send(frames, ids, deadline)
        if batch is None:
            return [Outcome.FAILED] * len(publications), error
        sent, closing = batch
        confirmations = [s[0] if s is not None else None for s in sent]
        try:
            waiting = [c for c in confirmations if c is not None]
            if waiting:
                await asyncio.wait(waiting, timeout=max(0.0, deadline - loop.time()))
        finally:
            closing.cancel()
            self._forget(ids, sent)
        outcomes: list[Outcome] = []
        for confirmation in confirmations:
            if confirmation is None or confirmation.cancelled():
                outcomes.append(Outcome.FAILED)
            elif (failure := confirmation.exception()) is not None:
                outcomes.append(Outcome.FAILED)
                error = error or failure
            else:
                outcomes.append(outcome(confirmation.result()))
        return outcomes, error

    def _encode(
        self, publications: Sequence[Publication]
    ) -> tuple[list[bytes | None], list[str], BaseException | None]:
        channel, error = self.channel, None
        frames: list[bytes | None] = []
        ids: list[str] = []
        for p in publications:
            message = p.message
            if not message.message_id:  # returns are matched by message id, as in aiormq
                message = replace(message, message_id=uuid.uuid4().hex)
            ids.append(message.message_id or "")
            try:
                frames.append(amqp_encoding.publish(
                    channel.number, p.exchange, p.routing_key, message,
                    mandatory=p.mandatory, max_content=channel.max_content_size,
                ))
            except (TypeError, ValueError) as exc:
                frames.append(None)
                error = error or exc
        return frames, ids, error

    async def _send(
        self, frames: list[bytes | None], ids: list[str], deadline: float
    ) -> Batch | None:
        """Registers a delivery tag and a confirmation per encoded publish, in the
        order of the frames, and queues them for the writer as one buffer; None when
        the channel is closed, or when the writer takes nothing before `deadline` (a
        connection going down: nothing was sent, nothing stays registered).

        The confirmations are plain futures of the loop; the batch registers one
        future with the channel, which aiormq fails when the channel closes, and that
        fails every confirmation still waiting with the same error (as aiormq fails
        each future registered with it): a channel's futures cost a set entry and a
        done callback at the channel and at the connection each."""
        try:
            async with asyncio.timeout_at(deadline):
                return await self._register_and_queue(frames, ids)
        except TimeoutError:
            return None

    async def _register_and_queue(
        self, frames: list[bytes | None], ids: list[str]
    ) -> Batch | None:
        channel = self.channel
        async with self._lock:
            if channel.is_closed:
                return None
            loop = asyncio.get_running_loop()
            first = channel.delivery_tag
            sent: list[Sent | None] = []
            for frame, message_id in zip(frames, ids, strict=True):
                if frame is None:
                    sent.append(None)
                    continue
                channel.delivery_tag += 1
                confirmation: asyncio.Future[object] = loop.create_future()
                channel.confirmations[channel.delivery_tag] = confirmation
                channel.message_id_delivery_tag[message_id] = channel.delivery_tag
                sent.append((confirmation, channel.delivery_tag))
            closing = _failing_with_the_channel(channel, sent)
            payload = b"".join(f for f in frames if f is not None)
            if not payload:
                return sent, closing
            try:
                await channel.write_queue.put(ChannelFrame(payload=payload, should_close=False))
            except BaseException:
                # nothing reached the writer: the tags are free again
                for tag in range(first + 1, channel.delivery_tag + 1):
                    channel.confirmations.pop(tag, None)
                channel.delivery_tag = first
                closing.cancel()
                self._forget(ids, sent)
                raise
            return sent, closing

    def _forget(self, ids: list[str], sent: list[Sent | None]) -> None:
        """Cancels confirmations still waiting (a timeout, a cancelled publish) and
        drops the message ids of this batch, as `basic_publish` does."""
        table = self.channel.message_id_delivery_tag
        for message_id, one in zip(ids, sent, strict=True):
            if one is None:
                continue
            confirmation, tag = one
            if not confirmation.done():
                confirmation.cancel()
            if table.get(message_id) == tag:
                del table[message_id]


def _failing_with_the_channel(
    channel: RawChannel, sent: list[Sent | None]
) -> asyncio.Future[object]:
    """A future registered with `channel` (aiormq fails it when the channel closes)
    that, when it fails, fails each confirmation of `sent` still waiting; cancel it
    when the batch is done."""
    closing: asyncio.Future[object] = channel.create_future()
    waiting = [one[0] for one in sent if one is not None]

    def fail(future: asyncio.Future[object]) -> None:
        if future.cancelled() or (error := future.exception()) is None:
            return
        for confirmation in waiting:
            if not confirmation.done():
                confirmation.set_exception(error)

    closing.add_done_callback(fail)
    return closing
