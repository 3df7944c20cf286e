"""(2) The ping-pong of `bench.conversation` in FastStream, the Python peer users pick.

    python -m bench.pingpong_faststream [-k 100] [-s 20] [--prefetch 200]

Written the way FastStream's documentation shows it: a `RabbitBroker`, subscribers on
durable `RabbitQueue`s bound to durable `RabbitExchange`s, handlers typed with the
pydantic models (FastStream parses and validates the body), and `@broker.publisher`
publishing each handler's return value with `persist=True`. The default channel has
publisher confirms on, and the default ack policy acknowledges after the handler.
FastStream's per-message log lines are turned off (`logger=None`), as a benchmark of
sagabus does not print one either.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

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
from bench.pingpong_aiopika import AMQP_URL, delete_namespace


async def run(
    *,
    k: int,
    s: int,
    prefetch: int,
    namespace: str,
    amqp_url: str = AMQP_URL,
    limit: float = 300.0,
) -> Run:
    """K conversations of S steps; the namespace's exchanges and queues are deleted
    afterwards, whatever happens."""
    broker = RabbitBroker(amqp_url, logger=None)
    commands = RabbitExchange(f"{namespace}.commands", type=ExchangeType.DIRECT, durable=True)
    events = RabbitExchange(f"{namespace}.events", type=ExchangeType.TOPIC, durable=True)
    service_queue = RabbitQueue(f"{namespace}.{SERVICE}", durable=True, routing_key=COMMAND)
    orchestrator_queue = RabbitQueue(
        f"{namespace}.{ORCHESTRATOR}", durable=True, routing_key=EVENT
    )
    conversations = Conversations(k, s)

    @broker.subscriber(service_queue, commands, channel=Channel(prefetch_count=prefetch))
    @broker.publisher(exchange=events, routing_key=EVENT, persist=True, message_type=EVENT)
    async def on_ping(command: Ping) -> Pong:
        return pong_for(command)

    send_ping = broker.publisher(
        exchange=commands, routing_key=COMMAND, persist=True, message_type=COMMAND
    )

    @broker.subscriber(orchestrator_queue, events, channel=Channel(prefetch_count=prefetch))
    async def on_pong(event: Pong) -> None:
        if conversations.replied(event.conversation_id, event.step):
            command = next_ping(event)
            await send_ping.publish(command, correlation_id=command.conversation_id)

    try:
        await broker.start()
        conversations.start()
        for i in range(k):
            command = ping(i, 1)
            conversations.sending(command.conversation_id)
            await send_ping.publish(command, correlation_id=command.conversation_id)
        return await conversations.wait(limit)
    finally:
        await broker.stop()
        await delete_namespace(amqp_url, namespace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", type=int, default=100, help="concurrent conversations")
    parser.add_argument("-s", type=int, default=20, help="steps per conversation")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args()
    result = asyncio.run(
        run(k=args.k, s=args.s, prefetch=args.prefetch, amqp_url=args.amqp_url,
            namespace=f"bench-fs-{uuid.uuid4().hex[:8]}")
    )
    print(f"FastStream: {result.steps} steps in {result.seconds:.2f}s = {result.rate:.0f} steps/s")


if __name__ == "__main__":
    main()
