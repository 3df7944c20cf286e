"""The test harness: your services on an in-memory bus, with a record of what was sent,
published and consumed, for your own unit tests (no RabbitMQ needed). Sagas run on
`saga_dsl.testing.SagaHarness`, the same harness with the saga engine added.

    async with BusHarness(services=[payments]) as h:
        await h.send(ProcessPayment(order_id="o-1", amount=12.5))
        await h.wait_idle()
        [paid] = h.published_of(PaymentSucceeded)
        assert await h.state("payments.charges", "o-1") is not None

The harness runs the real `Bus` (pipelines, inbox, outbox relay, retries, dead letters)
on an `InMemoryTransport` and a store (SQLite in memory unless told otherwise). It
differs from a daemon in one way, for repeatable tests: retry delays are skipped by
`wait_idle` (`skip_delays=False` waits them out).

Outside pytest the harness sets up logging itself, at `SAGABUS_LOG_LEVEL` (default
`warning`), unless the process configured structlog already.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar, Unpack

import structlog

from bus.deadletters.dead_letter import DeadLetter
from bus.discovery import import_package, services_in
from bus.observability.logging import configure_logging
from bus.settings import Settings
from bus.store import HistoryRecord, SagaRecord, Store, open_store
from bus.unitofwork.endpoint import Endpoint, HandlerContext, StandIn
from bus.unitofwork.runtime import BackgroundTask, Bus
from bus.wire.client import BusClient
from bus.wire.contracts import Message, Registry, registry
from bus.wire.envelope import Envelope, PoisonMessage
from bus.wire.memory import InMemoryBroker, InMemoryTransport
from bus.wire.send_options import SendOptions, check
from bus.wire.topology import Names
from bus.wire.transport import Outcome, WireMessage

M = TypeVar("M", bound=Message)

IN_MEMORY_URL = "amqp://in-memory/"
"""The broker URL the harness's settings name (nothing connects to it)."""

IDLE_TIMEOUT = 10.0
"""Seconds `wait_idle` waits by default before it fails, saying what is still pending."""

QUIET_LEVEL = "warning"
"""The harness's log level when `SAGABUS_LOG_LEVEL` does not say: tests want quiet."""

STORE_POLL = 0.01
"""Seconds between looks at the outbox while only the store has work left (the broker
announces its own changes; the store does not)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A handler raised: the pipeline retries the message or dead-letters it."""

    endpoint: str
    envelope: Envelope
    error: Exception


class BusHarness:
    """An in-memory bus for tests (see the module docstring); an async context manager.

    services: the endpoints to serve (`Service`s, or any `Endpoint`), or the name of a
        package whose `Service`s to serve, as `sagabus run --handlers` finds them.
    store: a store URL (default `sqlite:///:memory:`), or an open `Store`, which stays
        yours (the harness does not close it).
    settings: bus settings such as `namespace`, `prefetch`, `batch_max` (default: the
        defaults); their `store` and `amqp_url` are not used.
    skip_delays: `wait_idle` moves the broker's clock over retry delays rather than
        waiting them out (default True).
    idle_timeout: seconds `wait_idle` waits at most by default (10).
    background: more `BackgroundTask`s for the bus (a projection, say).
    contracts: the registry of message contracts (default: the process-wide one).
    """

    def __init__(
        self,
        *,
        services: Sequence[Endpoint] | str = (),
        store: str | Store = "sqlite:///:memory:",
        settings: Settings | None = None,
        skip_delays: bool = True,
        idle_timeout: float = IDLE_TIMEOUT,
        background: Sequence[BackgroundTask] = (),
        contracts: Registry = registry,
    ) -> None:
        if not isinstance(services, str | Sequence):
            raise TypeError(
                f"services takes a list of endpoints or a package name, not {services!r}"
            )
        self._services = services
        self._given_store = store if isinstance(store, Store) else None
        url = store.url if isinstance(store, Store) else store
        base = settings or Settings()
        self.settings = base.model_copy(update={"amqp_url": IN_MEMORY_URL, "store": url})
        self.names = Names(self.settings.namespace)
        self.skip_delays = skip_delays
        self.idle_timeout = idle_timeout
        self._background = tuple(background)
        self._contracts = contracts
        self.broker = InMemoryBroker()
        self.transport = InMemoryTransport(self.broker)
        """The harness's own connection, for raw publications (`transport.publish`)."""
        self._store: Store | None = None
        self._bus: Bus | None = None
        self._client: BusClient | None = None
        self._consumed: list[tuple[str, Envelope]] = []
        self._faults: list[Fault] = []
        self._journal_from = 0

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        _quiet_logging()
        store = self._given_store
        if store is None:
            store = open_store(self.settings)
            await store.open()
        self._store = store
        try:
            endpoints = [*self._endpoints(), *await self._more_endpoints(store)]
            recorded = [_Recorded(e, self._consumed, self._faults) for e in endpoints]
            bus = Bus(
                self.settings,
                store,
                recorded,
                background=self._background,
                transport=InMemoryTransport(self.broker),
                contracts=self._contracts,
            )
            await bus.start()  # it cleans up after itself when it fails
            self._bus = bus
            await self.transport.connect()
            self._client = BusClient(
                self.settings, transport=self.transport, contracts=self._contracts
            )
            await self._client.__aenter__()
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        client, self._client = self._client, None
        bus, self._bus = self._bus, None
        store, self._store = self._store, None
        try:
            if client is not None:
                await client.__aexit__(None, None, None)
            if bus is not None:
                await bus.stop()
        finally:
            if store is not None and self._given_store is None:
                await store.close()

    def _endpoints(self) -> list[Endpoint]:
        if isinstance(self._services, str):
            return list(services_in(import_package(self._services)))
        return list(self._services)

    async def _more_endpoints(self, store: Store) -> list[Endpoint]:
        """Endpoints beside the services, set up on the open store (a subclass's hook:
        `SagaHarness` adds the sagas here)."""
        return []

    # -- what the harness runs -----------------------------------------------------------
    @property
    def bus(self) -> Bus:
        if self._bus is None:
            raise RuntimeError("the harness is not running: use `async with BusHarness(...)`")
        return self._bus

    @property
    def store(self) -> Store:
        """The store the bus runs on: open transactions on it to look at state."""
        if self._store is None:
            raise RuntimeError("the harness is not running: use `async with BusHarness(...)`")
        return self._store

    @property
    def client(self) -> BusClient:
        if self._client is None:
            raise RuntimeError("the harness is not running: use `async with BusHarness(...)`")
        return self._client

    # -- sending in ----------------------------------------------------------------------
    async def send(self, command: Message, **options: Unpack[SendOptions]) -> Envelope:
        """Sends a command as `BusClient.send` does (`Unroutable` when no endpoint of the
        harness handles it); returns the envelope sent."""
        check(options, SendOptions)
        return await self.client.send(command, **options)

    async def publish(self, event: Message, **options: Unpack[SendOptions]) -> Envelope:
        """Publishes an event as `BusClient.publish` does; returns the envelope."""
        check(options, SendOptions)
        return await self.client.publish(event, **options)

    async def dispatch(self, envelope: Envelope) -> Envelope:
        """Publishes a ready envelope again, ids and all (a duplicate delivery)."""
        return await self.client.dispatch(envelope)

    # -- waiting -------------------------------------------------------------------------
    async def wait_idle(self, within: float | None = None) -> None:
        """Returns once nothing is left to do: every consumed queue is empty, no
        delivery is unsettled, the outbox is sent, and no retry is waiting (with
        `skip_delays`, retries waiting out their delay are let through at once).
        Raises `TimeoutError`, saying what is still pending, after `within` seconds
        (default `idle_timeout`)."""
        limit = self.idle_timeout if within is None else within
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        broker = self.broker
        backlog = 0
        while True:
            seen = broker.version
            poll: float | None = None
            if broker.quiet:
                backlog = await self._outbox_backlog()
                if backlog and await self.bus.relay.drain():
                    continue
                if backlog:
                    poll = STORE_POLL
                elif broker.version == seen:
                    if not broker.delayed():
                        return
                    if self.skip_delays:
                        broker.skip_to_next_expiry()
                        continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                # not the store: a stuck handler may hold its transaction
                unsent = f"; {backlog} outbox row(s) unsent" if backlog else ""
                raise TimeoutError(
                    f"the bus was not idle within {limit:g}s: {broker.describe()}{unsent}"
                )
            wait = remaining if poll is None else min(remaining, poll)
            try:
                await asyncio.wait_for(broker.changed(seen), wait)
            except TimeoutError:
                continue

    async def _outbox_backlog(self) -> int:
        async with self.store.transaction() as tx:
            return await tx.outbox_backlog()

    # -- what happened ------------------------------------------------------------------
    @property
    def sent(self) -> list[Envelope]:
        """Commands that reached a queue, in order (from the client, handlers, sagas)."""
        return self._journal(self.names.commands)

    @property
    def published(self) -> list[Envelope]:
        """Events published, in order, whether anyone subscribed or not."""
        return self._journal(self.names.events)

    @property
    def consumed(self) -> list[Envelope]:
        """Messages a handler ran on and returned from, in order (duplicates that the
        inbox dropped and runs that raised are not here)."""
        return [envelope for _, envelope in self._consumed]

    @property
    def faults(self) -> list[Fault]:
        """Every run of a handler that raised, in order."""
        return list(self._faults)

    def consumed_by(self, endpoint: str) -> list[Envelope]:
        """What the endpoint `endpoint` (a service name, or `saga.<name>`) consumed."""
        return [envelope for name, envelope in self._consumed if name == endpoint]

    def sent_of(self, contract: type[M]) -> list[M]:
        """The commands of type `contract` sent, as models."""
        return self._models(self.sent, contract)

    def published_of(self, contract: type[M]) -> list[M]:
        """The events of type `contract` published, as models."""
        return self._models(self.published, contract)

    def consumed_of(self, contract: type[M]) -> list[M]:
        """The messages of type `contract` consumed, as models."""
        return self._models(self.consumed, contract)

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """What lies in the dead-letter queues now (`<queue>.dlq`), queue by queue."""
        return [
            DeadLetter(queue, message)
            for queue in self.broker.queue_names()
            if Names.is_dlq(queue)
            for message in self.broker.messages(queue)
        ]

    @property
    def unroutable(self) -> list[DeadLetter]:
        """Commands handlers or sagas sent that no endpoint handles, parked by the
        outbox relay in the `unroutable` queue."""
        queue = self.names.unroutable
        return [DeadLetter(queue, message) for message in self.broker.messages(queue)]

    def clear(self) -> None:
        """Forgets what was sent, published, consumed and faulted so far (queues keep
        their messages: dead letters stay)."""
        self._journal_from = len(self.broker.journal)
        self._consumed.clear()
        self._faults.clear()

    def _journal(self, exchange: str) -> list[Envelope]:
        found = []
        for routed in self.broker.journal[self._journal_from :]:
            publication = routed.publication
            if publication.exchange != exchange or routed.outcome is not Outcome.CONFIRMED:
                continue
            envelope = _decode(publication.message)
            if not isinstance(envelope, PoisonMessage):
                found.append(envelope)
        return found

    def _models(self, envelopes: Sequence[Envelope], contract: type[M]) -> list[M]:
        name = contract.message_type()
        models = []
        for envelope in envelopes:
            if envelope.type != name:
                continue
            model = self._contracts.parse(name, envelope.version, envelope.payload)
            if isinstance(model, contract):
                models.append(model)
        return models

    # -- state ---------------------------------------------------------------------------
    async def state(self, namespace: str, key: str) -> dict[str, Any] | None:
        """A service's document (`tx.state_get`), or None."""
        async with self.store.transaction() as tx:
            return await tx.state_get(namespace, key)

    async def saga(self, saga: str, correlation: str) -> SagaRecord | None:
        """The instance of saga `saga` correlated by `correlation`, or None."""
        async with self.store.transaction() as tx:
            return await tx.saga_find(saga, correlation)

    async def history(self, instance: SagaRecord | str) -> list[HistoryRecord]:
        """The steps of a saga instance (a record or its id), oldest first."""
        instance_id = instance.id if isinstance(instance, SagaRecord) else instance
        async with self.store.transaction() as tx:
            return await tx.history(instance_id)


class _Recorded(StandIn):
    """An endpoint whose handled messages and failures the harness writes down."""

    def __init__(
        self, endpoint: Endpoint, consumed: list[tuple[str, Envelope]], faults: list[Fault]
    ) -> None:
        super().__init__(endpoint)
        self._consumed = consumed
        self._faults = faults

    def __repr__(self) -> str:
        return repr(self.endpoint)

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        try:
            await self.endpoint.handle(message, ctx)
        except Exception as exc:
            self._faults.append(Fault(self.name, message, exc))
            raise
        self._consumed.append((self.name, message))


def _quiet_logging() -> None:
    """Outside pytest nothing configured structlog, whose default prints every debug
    line: log at `SAGABUS_LOG_LEVEL`, default warning, unless someone configured it."""
    if not structlog.is_configured():
        configure_logging("console", os.environ.get("SAGABUS_LOG_LEVEL") or QUIET_LEVEL)


def _decode(message: WireMessage) -> Envelope | PoisonMessage:
    try:
        return message.envelope()
    except PoisonMessage as poison:
        return poison
