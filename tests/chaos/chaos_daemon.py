"""The daemon the chaos run starts (and kills): the example services and the order saga,
configured by the `SAGABUS_*` environment like `sagabus run`, with two faults of its
own, both seeded:

- duplicate deliveries: a fraction `CHAOS_DUPLICATE_RATE` of everything it publishes
  (outbox rows, retries) is published twice, same message_id;
- transient service failures: a fraction `CHAOS_FAILURE_RATE` of first deliveries to a
  service fail with `ChaosFault` (the retry tier delivers them again).

Each fault is appended to `CHAOS_FAULT_LOG` (one line: kind), and every committed run
of a service handler counts itself in the store (`chaos.runs`, key
`<endpoint>:<message_id>`) in the handler's own transaction: a count above one is an
effect the inbox let through twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bus import Settings, open_store
from bus.daemon import import_package, services_in
from bus.observability.logging import configure_logging
from bus.unitofwork.endpoint import Endpoint, HandlerContext, StandIn
from bus.unitofwork.retry import RetryPolicy
from bus.unitofwork.runtime import Bus
from bus.wire.envelope import Envelope
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.transport import Outcome, Publication
from saga_dsl.engine.wiring import saga_runtime

sys.path.append(str(Path(__file__).resolve().parent.parent))  # tests/, when run as a script
from support.transports import ForwardingTransport

RUNS = "chaos.runs"
"""Committed handler runs per `<endpoint>:<message_id>`."""

DUPLICATE = "duplicate delivery"
TRANSIENT = "transient failure"


class ChaosFault(RuntimeError):
    """A failure injected on purpose; the retry tier delivers the message again."""


def chance(seed: str, *parts: str) -> float:
    """A number in [0, 1) fixed by the seed and `parts`: the same run makes the same
    choices for the same messages, whichever daemon handles them."""
    digest = hashlib.sha256("\x00".join((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FaultLog:
    """Appends one line per injected fault; a line is on disk before the fault acts."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)

    def record(self, kind: str) -> None:
        with self._path.open("a") as out:
            out.write(f"{kind}\n")


class DuplicatingTransport(ForwardingTransport):
    """Publishes a seeded fraction of messages twice, back to back."""

    def __init__(self, inner: RabbitMQTransport, seed: str, rate: float, log: FaultLog) -> None:
        super().__init__(inner)
        self._seed, self._rate, self._log = seed, rate, log

    async def publish(self, publications: Sequence[Publication]) -> list[Outcome]:
        twice = [
            p for p in publications
            if chance(self._seed, "dup", p.routing_key, p.message.message_id or "") < self._rate
        ]
        outcomes = await self.inner.publish([*publications, *twice])
        for _ in twice:
            self._log.record(DUPLICATE)
        return outcomes[: len(publications)]


class CountedService(StandIn):
    """An endpoint around a service: counts its committed runs, and fails a seeded
    fraction of first deliveries."""

    def __init__(self, inner: Endpoint, seed: str, rate: float, log: FaultLog | None) -> None:
        super().__init__(inner)
        self._seed, self._rate, self._log = seed, rate, log

    @property
    def retry(self) -> RetryPolicy:
        # a transient fault is retried after a second, and never dead-lettered
        return RetryPolicy(attempts=10, delays=["1s"])

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        first = int(message.headers.get("x-attempts", 0) or 0) == 0
        if first and chance(self._seed, "fail", self.name, message.message_id) < self._rate:
            if self._log is not None:
                self._log.record(TRANSIENT)
            raise ChaosFault(f"{self.name} is briefly unavailable")
        key = f"{self.name}:{message.message_id}"
        runs = await ctx.tx.state_get(RUNS, key, for_update=True) or {"count": 0}
        await ctx.tx.state_put(RUNS, key, {"count": runs["count"] + 1})
        await self.endpoint.handle(message, ctx)


async def main() -> None:
    settings = Settings.load()
    configure_logging(settings.log_format, settings.log_level)
    seed = os.environ["CHAOS_SEED"]
    log = FaultLog(os.environ["CHAOS_FAULT_LOG"])
    failure_rate = float(os.environ.get("CHAOS_FAILURE_RATE", "0"))
    services: list[Endpoint] = [
        CountedService(s, seed, failure_rate, log)
        for s in services_in(import_package("handlers"))
    ]
    runtime = saga_runtime(os.environ["CHAOS_SAGAS"])
    transport = DuplicatingTransport(
        RabbitMQTransport(settings.amqp_url), seed,
        float(os.environ.get("CHAOS_DUPLICATE_RATE", "0")), log,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with open_store(settings.store) as store:
        await runtime.pin(store)
        async with Bus(settings, store, [*services, *runtime.endpoints],
                       background=[runtime.scheduler], transport=transport):
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
