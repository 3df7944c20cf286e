"""(1) The baseline: the ping-pong of `bench.conversation` in plain aio-pika.

    python -m bench.pingpong_aiopika [-k 100] [-s 20] [--prefetch 200] [--iterator]

Written the way aio-pika's documentation shows it: a channel in publisher-confirm mode,
durable exchanges and queues, persistent messages, one `await exchange.publish(...)`
per message (so each confirm is awaited before the handler goes on), and handlers that
`async with message.process()` (ack once the work is done). By default the handlers are
`queue.consume` callbacks, which aio-pika runs as one task per delivery, so up to
`prefetch` messages are in work at once; `--iterator` uses `queue.iterator()` instead,
one message at a time per queue.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractQueue
from pydantic import BaseModel

from bench.conversation import (
    COMMAND,
    EVENT,
    ORCHESTRATOR,
    SERVICE,
    Conversations,
    Ping,
    Pong,
    Run,
    next_ping,
    ping,
    pong_for,
)

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def message(model: BaseModel, type_name: str, correlation_id: str) -> aio_pika.Message:
    return aio_pika.Message(
        model.model_dump_json().encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(uuid.uuid4()),
        correlation_id=correlation_id,
        type=type_name,
        timestamp=datetime.now(UTC),
    )


async def run(
    *,
    k: int,
    s: int,
    prefetch: int,
    namespace: str,
    amqp_url: str = AMQP_URL,
    iterator: bool = False,
    limit: float = 300.0,
) -> Run:
    """K conversations of S steps; the namespace's exchanges and queues are deleted
    afterwards, whatever happens."""
    connection = await aio_pika.connect(amqp_url)
    tasks: list[asyncio.Task[None]] = []
    try:
        publisher = await connection.channel(publisher_confirms=True)
        commands = await publisher.declare_exchange(
            f"{namespace}.commands", aio_pika.ExchangeType.DIRECT, durable=True
        )
        events = await publisher.declare_exchange(
            f"{namespace}.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        conversations = Conversations(k, s)

        async def on_ping(incoming: AbstractIncomingMessage) -> None:
            async with incoming.process():
                command = Ping.model_validate_json(incoming.body)
                await events.publish(
                    message(pong_for(command), EVENT, command.conversation_id), EVENT
                )

        async def on_pong(incoming: AbstractIncomingMessage) -> None:
            async with incoming.process():
                event = Pong.model_validate_json(incoming.body)
                if conversations.replied(event.conversation_id, event.step):
                    command = next_ping(event)
                    await commands.publish(
                        message(command, COMMAND, command.conversation_id), COMMAND
                    )

        service = await _consumer_queue(connection, prefetch, f"{namespace}.{SERVICE}",
                                        commands, COMMAND)
        orchestrator = await _consumer_queue(connection, prefetch,
                                             f"{namespace}.{ORCHESTRATOR}", events, EVENT)
        if iterator:
            tasks = [
                asyncio.create_task(_one_at_a_time(service, on_ping)),
                asyncio.create_task(_one_at_a_time(orchestrator, on_pong)),
            ]
        else:
            await service.consume(on_ping)
            await orchestrator.consume(on_pong)

        conversations.start()
        for i in range(k):
            command = ping(i, 1)
            conversations.sending(command.conversation_id)
            await commands.publish(message(command, COMMAND, command.conversation_id), COMMAND)
        result = await conversations.wait(limit)
        await asyncio.sleep(0.1)  # the last handler is still acknowledging its message
        return result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await connection.close()
        await delete_namespace(amqp_url, namespace)


async def _consumer_queue(
    connection: aio_pika.abc.AbstractConnection,
    prefetch: int,
    name: str,
    exchange: AbstractExchange,
    routing_key: str,
) -> AbstractQueue:
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.declare_queue(name, durable=True)
    await queue.bind(exchange, routing_key)
    return queue


async def _one_at_a_time(
    queue: AbstractQueue, handle: Callable[[AbstractIncomingMessage], Awaitable[None]]
) -> None:
    async with queue.iterator() as messages:
        async for incoming in messages:
            await handle(incoming)


async def delete_namespace(amqp_url: str, namespace: str) -> None:
    """Deletes the ping-pong queues and exchanges of `namespace` (the raw aio-pika and
    FastStream runs declare the same ones)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue in (SERVICE, ORCHESTRATOR):
            await channel.queue_delete(f"{namespace}.{queue}")
        for exchange in ("commands", "events"):
            await channel.exchange_delete(f"{namespace}.{exchange}")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", type=int, default=100, help="concurrent conversations")
    parser.add_argument("-s", type=int, default=20, help="steps per conversation")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--iterator", action="store_true", help="queue.iterator(), not consume")
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args()
    result = asyncio.run(
        run(k=args.k, s=args.s, prefetch=args.prefetch, amqp_url=args.amqp_url,
            iterator=args.iterator, namespace=f"bench-raw-{uuid.uuid4().hex[:8]}")
    )
    print(f"aio-pika: {result.steps} steps in {result.seconds:.2f}s = {result.rate:.0f} steps/s")


if __name__ == "__main__":
    main()
