"""The bus: one object that wires transport, store, relay and pipelines, and runs them.

    async with open_store(settings) as store:
        async with Bus(settings, store, [payments, shipping]) as bus:
            await stop_requested.wait()

`start` connects (one clear `BrokerUnavailable` line when RabbitMQ is unreachable),
declares the topology, drains the outbox left by a previous run, starts one pipeline
per endpoint, the outbox relay, the inbox clean-up and the background tasks given (the
saga engine's timer scheduler is one). `stop` stops consuming, lets in-flight batches
finish, flushes the outbox and closes the connection. The store belongs to the
caller: the bus neither opens nor closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bus.deadletters import registry as dead_letter_registry
from bus.errors import ConfigurationError
from bus.observability.logging import get_logger
from bus.observability.message_log import MessageLog
from bus.observability.observe import Observer, compose
from bus.observability.redact import redact_url
from bus.settings import QueueType, Settings
from bus.store.base import Store
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.outbox import OutboxRelay
from bus.unitofwork.pipeline import Pipeline
from bus.unitofwork.retention import purge_periodically
from bus.wire.contracts import Registry, registry
from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names, Topology, endpoint_queues, exchanges, unroutable_queue
from bus.wire.transport import Transport

BackgroundTask = Callable[["Bus"], Coroutine[Any, Any, None]]
"""A coroutine function run beside the consumers while the bus runs; it gets the bus
(its `store`, `relay.notify`, `settings`, `names`) and is cancelled at stop."""

log = get_logger("sagabus.bus")


class Bus:
    """settings: see `Settings`. store: an open store (the caller's). endpoints: the
    services and saga endpoints to serve. background: `BackgroundTask`s. transport:
    defaults to RabbitMQ at `settings.amqp_url`. contracts: the registry payloads are
    validated against (default: the process-wide one). observers: told what happens
    (bus/observability/observe.py: metrics, tracing), besides the `MessageLog` every bus has."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        endpoints: Sequence[Endpoint],
        *,
        background: Sequence[BackgroundTask] = (),
        transport: Transport | None = None,
        contracts: Registry = registry,
        observers: Sequence[Observer] = (),
    ) -> None:
        check_endpoints(endpoints)
        self.settings = settings
        self.store = store
        self.endpoints = tuple(endpoints)
        self.names = Names(settings.namespace)
        self.transport: Transport = transport or RabbitMQTransport(settings.amqp_url)
        self.observer = compose([MessageLog(), *observers])
        self.relay = OutboxRelay(
            store, self.transport, self.names, interval=settings.relay_interval,
            observer=self.observer,
        )
        self.pipelines = [
            Pipeline(
                endpoint,
                store=store,
                transport=self.transport,
                relay=self.relay,
                names=self.names,
                prefetch=settings.prefetch,
                batch_max=settings.effective_batch_max,
                contracts=contracts,
                observer=self.observer,
                max_body_bytes=settings.max_body_bytes,
            )
            for endpoint in self.endpoints
        ]
        self._background = tuple(background)
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def topology(self) -> Topology:
        """Everything this bus declares."""
        return bus_topology(self.names, self.endpoints, self.settings.queue_type)

    async def start(self) -> None:
        await self.transport.connect()
        try:
            topology = self.topology()
            await self.transport.declare(topology)
            await self._record_dead_letter_queues(topology)
            drained = await self.relay.drain()
            if drained:
                log.info("outbox rows from a previous run sent", count=drained)
            for pipeline in self.pipelines:
                await pipeline.start()
            self._spawn(self.relay.run(), "outbox-relay")
            self._spawn(
                purge_periodically(
                    self.store, self.settings.inbox_retention, self.settings.cleanup_interval
                ),
                "retention",
            )
            for factory in self._background:
                self._spawn(factory(self), getattr(factory, "__name__", "background"))
        except BaseException:
            await self._shutdown(flush=False)
            raise
        self._running = True
        log.info(
            "bus started",
            broker=redact_url(self.settings.amqp_url),
            namespace=self.names.namespace,
            endpoints=[p.queue for p in self.pipelines],
        )

    async def _record_dead_letter_queues(self, topology: Topology) -> None:
        """So that `sagabus dlq` finds them without knowing this runtime's services."""
        dlqs = [q.name for q in topology.queues if Names.is_dlq(q.name)]
        try:
            await dead_letter_registry.record(self.transport, self.names, dlqs)
        except Exception as exc:
            log.warning("could not record the dead-letter queues", error=str(exc))

    async def stop(self) -> None:
        """Stops consuming, finishes in-flight batches, flushes the outbox, closes."""
        await self._shutdown(flush=True)
        log.info("bus stopped")

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_crash)
        self._tasks.append(task)

    async def _shutdown(self, *, flush: bool) -> None:
        self._running = False
        for pipeline in self.pipelines:
            await pipeline.stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.relay.close()
            if flush:
                await self.relay.drain()
        except Exception as exc:
            log.warning("outbox not flushed; the next start sends it", error=str(exc))
        await self.transport.close()


def bus_topology(names: Names, endpoints: Sequence[Endpoint], queue_type: QueueType) -> Topology:
    """The exchanges, the unroutable queue, the registry of dead-letter queues and every
    endpoint's queues."""
    topology = exchanges(names) + unroutable_queue(names, queue_type)
    for endpoint in endpoints:
        topology = topology + endpoint_queues(
            names,
            endpoint.name,
            commands=endpoint.commands,
            events=endpoint.events,
            retry=endpoint.retry,
            queue_type=queue_type,
        )
    return topology + dead_letter_registry.registry_topology(names, queue_type)


def check_endpoints(endpoints: Sequence[Endpoint]) -> None:
    """Endpoint names are unique and every command has one owner."""
    seen: set[str] = set()
    owners: dict[str, str] = {}
    for endpoint in endpoints:
        if endpoint.name in seen:
            raise ConfigurationError(f"two endpoints are named {endpoint.name!r}")
        seen.add(endpoint.name)
        for command in endpoint.commands:
            owner = owners.setdefault(command, endpoint.name)
            if owner != endpoint.name:
                raise ConfigurationError(
                    f"command {command} is handled by both {owner} and {endpoint.name};"
                    " a command has one owner"
                )


def _report_crash(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("background task crashed", task=task.get_name(), error=repr(error),
                  exc_info=error)
