"""Throughput of the bus against plain aio-pika, in one run, on the same broker.

    python -m bench.bus_bench [--messages 3000] [--prefetch 200] [--batch-max 100]
                              [--repeat 3] [--store sqlite|postgres]

Same durability on both sides: durable queues, persistent messages, publisher
confirms. Four figures:

- publish, one at a time: `await publish` per message, each confirm awaited before the
  next (the way aio-pika's docs show; `BusClient.send` for sagabus);
- publish, batched: the same messages with their confirms awaited together (raw: a
  gather; sagabus: one `Transport.publish` call per batch, as the outbox relay does);
- round trip (command -> handler -> event -> consumer): N commands waiting in the
  queue; a handler turns each into an event; a consumer of the events counts them.
  Raw aio-pika: the handler publishes the event (confirmed) and acks, per message,
  either one message at a time (the queue iterator of its docs) or in consume
  callbacks, which aio-pika runs concurrently up to the prefetch. sagabus: a `Service`
  handler with inbox, its own state and outbox on the store, group commit, and a
  second `Service` consuming the events with its inbox.
Figures are messages (or round trips) per second of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
import asyncpg
import structlog

from bus import (
    Bus,
    BusClient,
    Command,
    Envelope,
    Event,
    HandlerContext,
    RetryPolicy,
    Service,
    Settings,
)
from bus.store import open_store
from bus.unitofwork.runtime import bus_topology
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names, Topology, endpoint_queues, exchanges
from bus.wire.transport import Publication, WireMessage

AMQP_URL = os.environ.get("SAGABUS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get("SAGABUS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BODY = {"order_id": "o-000000", "amount": 42.5, "currency": "EUR"}


class BenchCharge(Command):
    order_id: str
    amount: float
    currency: str


class BenchCharged(Event):
    order_id: str
    amount: float


async def timed(run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


# -- plain aio-pika ---------------------------------------------------------------------
async def raw_publish(n: int, batched: bool) -> float:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(f"bench.raw.{uuid.uuid4().hex[:8]}", durable=True)
        body = Envelope.of(BenchCharge(**BODY)).body()

        def message() -> aio_pika.Message:
            return aio_pika.Message(
                body, message_id=str(uuid.uuid4()), type="BenchCharge",
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )

        async def one_by_one() -> None:
            for _ in range(n):
                await channel.default_exchange.publish(message(), queue.name)

        async def in_batches() -> None:
            for start in range(0, n, 200):
                await asyncio.gather(*(
                    channel.default_exchange.publish(message(), queue.name)
                    for _ in range(min(200, n - start))
                ))

        seconds = await timed(in_batches if batched else one_by_one)
        await queue.delete(if_unused=False, if_empty=False)
        return n / seconds
    finally:
        await connection.close()


async def raw_round_trip(n: int, prefetch: int, *, concurrent: bool) -> float:
    """concurrent=False: the queue iterator of aio-pika's docs, one message (and one
    confirm) at a time. concurrent=True: a consume callback, which aio-pika runs as a
    task per delivery, so up to `prefetch` confirms are awaited at once."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=prefetch)
        prefix = f"bench.raw.{uuid.uuid4().hex[:8]}"
        events = await channel.declare_exchange(f"{prefix}.events", "topic", durable=True)
        commands = await channel.declare_queue(f"{prefix}.commands", durable=True)
        replies = await channel.declare_queue(f"{prefix}.replies", durable=True)
        await replies.bind(events, "BenchCharged")
        for i in range(n):
            payload = {**BODY, "order_id": f"o-{i}"}
            await channel.default_exchange.publish(
                aio_pika.Message(
                    Envelope.of(BenchCharge(**payload)).body(), message_id=str(uuid.uuid4()),
                    type="BenchCharge", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                commands.name,
            )
        done = asyncio.Event()
        received = 0

        async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            command = BenchCharge.model_validate_json(message.body)
            event = BenchCharged(order_id=command.order_id, amount=command.amount)
            await events.publish(
                aio_pika.Message(
                    Envelope.of(event).body(), message_id=str(uuid.uuid4()),
                    type="BenchCharged", correlation_id=message.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                "BenchCharged",
            )
            await message.ack()

        async def count(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            BenchCharged.model_validate_json(message.body)
            await message.ack()
            received += 1
            if received == n:
                done.set()

        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=prefetch)
        command_queue = await consumer_channel.get_queue(commands.name)

        async def one_at_a_time() -> None:
            async with command_queue.iterator() as messages:
                async for message in messages:
                    await handle(message)

        started = time.perf_counter()
        serving = None
        if concurrent:
            await command_queue.consume(handle)
        else:
            serving = asyncio.create_task(one_at_a_time())
        await (await consumer_channel.get_queue(replies.name)).consume(count)
        await done.wait()
        seconds = time.perf_counter() - started
        if serving is not None:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
        return n / seconds
    finally:
        # handlers may still be acking: close the connection before deleting
        await connection.close()
        cleanup = await aio_pika.connect(AMQP_URL)
        channel = await cleanup.channel()
        await channel.queue_delete(f"{prefix}.commands")
        await channel.queue_delete(f"{prefix}.replies")
        await channel.exchange_delete(f"{prefix}.events")
        await cleanup.close()


# -- sagabus ----------------------------------------------------------------------------
async def bus_publish(n: int, batched: bool, settings: Settings) -> float:
    names = Names(settings.namespace)
    transport = RabbitMQTransport(settings.amqp_url)
    await transport.connect()
    sink = Topology(queues=endpoint_queues(
        names, "bench_sink", commands=["BenchCharge"], events=[], retry=RetryPolicy(attempts=1),
        queue_type="classic",
    ).queues[:1])
    await transport.declare(exchanges(names) + sink)
    try:
        if batched:
            async def in_batches() -> None:
                for start in range(0, n, 200):
                    await transport.publish([
                        Publication(names.commands, "BenchCharge",
                                    WireMessage.of(Envelope.of(BenchCharge(**BODY))), True)
                        for _ in range(min(200, n - start))
                    ])

            seconds = await timed(in_batches)
        else:
            async with BusClient(settings) as client:
                async def one_by_one() -> None:
                    for _ in range(n):
                        await client.send(BenchCharge(**BODY))

                seconds = await timed(one_by_one)
        return n / seconds
    finally:
        await transport.delete(exchanges(names) + sink)
        await transport.close()


async def bus_round_trip(n: int, settings: Settings) -> float:
    payments = Service("bench_payments")
    watcher = Service("bench_watcher")
    done = asyncio.Event()
    received = 0

    @payments.handles(BenchCharge)
    async def charge(cmd: BenchCharge, ctx: HandlerContext) -> None:
        await ctx.tx.state_put("bench_payments", cmd.order_id, {"amount": cmd.amount})
        ctx.publish(BenchCharged(order_id=cmd.order_id, amount=cmd.amount))

    @watcher.on(BenchCharged)
    async def count(event: BenchCharged, ctx: HandlerContext) -> None:
        nonlocal received
        received += 1
        if received == n:
            done.set()

    names = Names(settings.namespace)
    topology = bus_topology(names, [payments, watcher], settings.queue_type)
    async with open_store(settings.store) as store:
        transport = RabbitMQTransport(settings.amqp_url)
        await transport.connect()
        await transport.declare(topology)
        try:
            for start in range(0, n, 200):
                await transport.publish([
                    Publication(
                        names.commands, "BenchCharge",
                        WireMessage.of(Envelope.of(BenchCharge(**{**BODY, "order_id": f"o-{i}"}))),
                        True,
                    )
                    for i in range(start, min(start + 200, n))
                ])
            bus = Bus(settings, store, [payments, watcher])
            started = time.perf_counter()
            await bus.start()
            await done.wait()
            seconds = time.perf_counter() - started
            await bus.stop()
            return n / seconds
        finally:
            await transport.delete(topology)
            await transport.close()


async def fresh_postgres_url() -> tuple[str, Callable[[], Awaitable[None]]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"

    async def drop() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    return f"{PG_URL}?schema={schema}", drop


async def measure(repeat: int, raw: Callable[[], Awaitable[float]],
                  ours: Callable[[], Awaitable[float]]) -> tuple[float, float]:
    """Median of `repeat` runs of each, interleaved so that both meet the same
    background load."""
    raws, oursl = [], []
    for _ in range(repeat):
        raws.append(await raw())
        oursl.append(await ours())
    return statistics.median(raws), statistics.median(oursl)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--batch-max", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    n, repeat = args.messages, args.repeat
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    with tempfile.TemporaryDirectory() as tmp:
        cleanups: list[Callable[[], Awaitable[None]]] = []

        async def settings() -> Settings:
            if args.store == "postgres":
                store_url, drop = await fresh_postgres_url()
                cleanups.append(drop)
            else:
                store_url = f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db"
            return Settings(
                amqp_url=AMQP_URL, store=store_url, prefetch=args.prefetch,
                batch_max=args.batch_max, namespace=f"bench{uuid.uuid4().hex[:6]}",
            )

        async def bus_publish_each() -> float:
            return await bus_publish(n, False, await settings())

        async def bus_publish_batched() -> float:
            return await bus_publish(n, True, await settings())

        async def bus_trips() -> float:
            return await bus_round_trip(n, await settings())

        try:
            rows = [
                ("publish, one at a time (msg/s)", *await measure(
                    repeat, lambda: raw_publish(n, batched=False), bus_publish_each)),
                ("publish, confirms batched (msg/s)", *await measure(
                    repeat, lambda: raw_publish(n, batched=True), bus_publish_batched)),
                ("round trips/s vs aio-pika one message at a time", *await measure(
                    repeat, lambda: raw_round_trip(n, args.prefetch, concurrent=False),
                    bus_trips)),
                ("round trips/s vs aio-pika concurrent callbacks", *await measure(
                    repeat, lambda: raw_round_trip(n, args.prefetch, concurrent=True),
                    bus_trips)),
            ]
        finally:
            for cleanup in cleanups:
                await cleanup()

    print(f"\nsagabus bus benchmark: {n} messages, prefetch {args.prefetch}, "
          f"batch max {args.batch_max}, store {args.store}, median of {repeat}")
    print(f"{platform.node()} / {os.cpu_count()} CPUs / Python {platform.python_version()} / "
          f"aio-pika {aio_pika.__version__} / RabbitMQ on the same host")
    print(f"{'':58} {'aio-pika':>10} {'sagabus':>10} {'ratio':>7}")
    for label, raw, ours in rows:
        print(f"{label:58} {raw:10.0f} {ours:10.0f} {ours / raw:6.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
