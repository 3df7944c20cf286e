"""(3) The ping-pong of `bench.conversation` with sagabus Services, inbox and outbox on SQLite.

    python -m bench.pingpong_sagabus [-k 100] [-s 20] [--prefetch 200] [--batch-max 100]

Two `Service`s on one `Bus`: `pp_service` handles PingCommand and publishes PongEvent;
`pp_orchestrator` handles PongEvent and sends the next PingCommand. Every delivery goes
through the unit of work: inbox row, handler, outbox row, commit (SQLite in WAL mode
with `synchronous=FULL`), outbox published with confirms, ack. The K first commands
are sent with `BusClient.send`, one confirmed publish each, like the other two.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from pathlib import Path

from bench.conversation import (
    COMMAND,
    EVENT,
    ORCHESTRATOR,
    SERVICE,
    Conversations,
    Run,
    ping,
)
from bench.pingpong_aiopika import AMQP_URL
from bus import Bus, BusClient, Command, Event, HandlerContext, Service, Settings
from bus.observability.logging import configure_logging
from bus.store import open_store
from bus.wire.rabbitmq import RabbitMQTransport


class PingCommand(Command):
    __message_type__ = COMMAND

    conversation_id: str
    step: int
    order_id: str
    amount: float
    currency: str


class PongEvent(Event):
    __message_type__ = EVENT

    conversation_id: str
    step: int
    order_id: str
    amount: float


async def run(
    *,
    k: int,
    s: int,
    prefetch: int,
    namespace: str,
    store: str,
    amqp_url: str = AMQP_URL,
    batch_max: int = 100,
    limit: float = 300.0,
) -> Run:
    """K conversations of S steps on the store at URL `store` (which the caller
    provides fresh and removes); the namespace's exchanges and queues are deleted
    afterwards, whatever happens."""
    settings = Settings(
        amqp_url=amqp_url, store=store, prefetch=prefetch, batch_max=batch_max,
        namespace=namespace,
    )
    conversations = Conversations(k, s)
    service = Service(SERVICE)
    orchestrator = Service(ORCHESTRATOR)

    @service.handles(PingCommand)
    async def on_ping(command: PingCommand, ctx: HandlerContext) -> None:
        ctx.publish(
            PongEvent(
                conversation_id=command.conversation_id,
                step=command.step,
                order_id=command.order_id,
                amount=command.amount,
            )
        )

    @orchestrator.on(PongEvent)
    async def on_pong(event: PongEvent, ctx: HandlerContext) -> None:
        if conversations.replied(event.conversation_id, event.step):
            ctx.send(
                PingCommand(
                    conversation_id=event.conversation_id,
                    step=event.step + 1,
                    order_id=event.order_id,
                    amount=event.amount,
                    currency="EUR",
                )
            )

    async with open_store(settings.store) as opened:
        bus = Bus(settings, opened, [service, orchestrator])
        try:
            async with bus, BusClient(settings) as client:
                conversations.start()
                for i in range(k):
                    command = ping(i, 1)
                    conversations.sending(command.conversation_id)
                    await client.send(PingCommand(**command.model_dump()))
                return await conversations.wait(limit)
        finally:
            await delete_topology(settings, bus)


async def delete_topology(settings: Settings, bus: Bus) -> None:
    """Deletes what `bus` declared, once it has stopped."""
    transport = RabbitMQTransport(settings.amqp_url)
    await transport.connect()
    try:
        await transport.delete(bus.topology())
    finally:
        await transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", type=int, default=100, help="concurrent conversations")
    parser.add_argument("-s", type=int, default=20, help="steps per conversation")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--batch-max", type=int, default=100)
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args()
    configure_logging("console", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(
            run(k=args.k, s=args.s, prefetch=args.prefetch, batch_max=args.batch_max,
                amqp_url=args.amqp_url, namespace=f"bench-sb-{uuid.uuid4().hex[:8]}",
                store=f"sqlite:///{Path(tmp) / 'pingpong.db'}")
        )
    print(f"sagabus: {result.steps} steps in {result.seconds:.2f}s = {result.rate:.0f} steps/s")


if __name__ == "__main__":
    main()
