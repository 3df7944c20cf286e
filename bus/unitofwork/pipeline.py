"""The unit of work of one endpoint: deliveries in, effects committed, acks out.

Deliveries are taken in batches (whatever has arrived, up to `batch_max`, without
waiting for more) and each batch is one store transaction (DESIGN sections 4 and 10):

1. decode; poison (not JSON, unknown type, failing its contract, unknown newer
   version, no message_id) goes to `<queue>.dlq` at once, with the reason;
2. `inbox_add_many(queue, message_ids)`, one statement for the batch; a duplicate
   skips the handler;
3. the handlers run; what they send or publish becomes outbox rows. Should one raise,
   the transaction is rolled back, the delivery is set aside for a retry (or, after
   the last attempt, a dead letter) and the rest of the batch runs again; after a
   second such failure the rest runs with a savepoint per delivery (its inbox row
   inside it), which the exception rolls back. Savepoints cost two statements per
   delivery, so only a batch that needs them pays for them (the other handlers of a
   batch that had a failure run again: their observers' spans show both runs);
4. commit;
5. the new outbox rows, the retries and the dead letters are published together and
   their confirms awaited;
6. the batch is acknowledged (one `multiple` ack when it can be).

Steps 5-6 of one batch overlap with steps 1-4 of the next (the broker's confirms are
awaited while the store works); acknowledgements stay in batch order.

A batch that fails to commit goes back to the queue whole, after a pause: nothing of it
was done, so nothing is lost and nothing is done twice. Poison, retries, dead letters and
the pause after a failed commit are `bus.unitofwork.failure_policy`'s to decide.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

from bus.errors import ContractViolation, UnknownVersion
from bus.observability.logging import get_logger, log_context
from bus.observability.observe import NO_OBSERVER, Facts, Observer
from bus.store.base import Store, Transaction, is_conflict
from bus.unitofwork.endpoint import BatchReader, Endpoint, HandlerContext
from bus.unitofwork.failure_policy import CommitBackoff, FailurePolicy
from bus.unitofwork.outbox import OutboxRelay, Row
from bus.wire.contracts import Message, Registry, registry
from bus.wire.envelope import Envelope, PoisonMessage, utcnow
from bus.wire.topology import Names
from bus.wire.transport import Delivery, Outcome, Publication, Subscription, Transport

log = get_logger("sagabus.pipeline")

Unit = tuple[Delivery, Envelope, Message | None]

CONFLICT_REPLAYS = 3
"""Times a unit that lost a race with another transaction is replayed at once before it
goes the way of any failure (the retry tiers)."""
"""A delivery to handle: as received, decoded, and parsed into its contract."""
Failure = tuple[Delivery, Envelope, Exception]


FAST_TRIES = 2
"""Runs of a batch without savepoints, each after a handler raised, before its rest
runs with a savepoint per unit."""


class _HandlerRaised(Exception):
    """A handler raised in a batch run without savepoints (the transaction is lost)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure[2])
        self.failure = failure


@dataclass(slots=True)
class Settlement:
    """A committed batch, waiting for steps 5-6: what to publish, then to acknowledge."""

    batch: Sequence[Delivery]
    outgoing: list[tuple[Delivery, Publication]]
    rows: list[Row]
    result: BatchResult


@dataclass(slots=True)
class BatchResult:
    """What became of one batch (for logs, metrics and tests)."""

    handled: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    requeued: int = 0


class Pipeline:
    """Consumes the queue of one endpoint and runs its units of work, one batch at a
    time. prefetch: unacknowledged deliveries the broker may send (default 200).
    batch_max: deliveries per transaction at most (default 100). observer: told what
    happens to each delivery (bus/observability/observe.py)."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        store: Store,
        transport: Transport,
        relay: OutboxRelay,
        names: Names,
        prefetch: int = 200,
        batch_max: int = 100,
        contracts: Registry = registry,
        observer: Observer = NO_OBSERVER,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        self.endpoint = endpoint
        self._max_body_bytes = max_body_bytes
        self.queue = names.queue(endpoint.name)
        self._store = store
        self._transport = transport
        self._relay = relay
        self._names = names
        self._prefetch = prefetch
        self._batch_max = max(1, min(batch_max, prefetch))
        self._contracts = contracts
        self._observer = observer
        self._types = endpoint.commands | endpoint.events
        self._buffer: asyncio.Queue[Delivery] = asyncio.Queue()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._settling: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._log = log.bind(endpoint=endpoint.name)
        self._backoff = CommitBackoff()
        self._failures = FailurePolicy(
            endpoint.name,
            queue=self.queue,
            names=names,
            retry=endpoint.retry,
            types=self._types,
            observer=observer,
            log=self._log,
        )

    @property
    def poisoned(self) -> int:
        """Poison messages dead-lettered since start (also counted in their log lines)."""
        return self._failures.poisoned

    async def start(self) -> None:
        self._subscription = await self._transport.consume(
            self.queue, self._prefetch, self._buffer.put_nowait
        )
        self._task = asyncio.create_task(self._run(), name=f"pipeline-{self.endpoint.name}")

    @property
    def consuming(self) -> bool:
        """Started, not stopping, and its loop alive (readiness)."""
        return self._task is not None and not self._task.done() and not self._stopping

    async def stop(self) -> None:
        """Stops consuming and lets the batch in progress finish. Deliveries received
        but not started return to the queue when the transport closes."""
        self._stopping = True
        if self._subscription is not None:
            await self._subscription.cancel()
        await self._idle.wait()
        if self._settling is not None:
            await asyncio.gather(self._settling, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        """Takes batches one after another. While a batch's messages are published and
        it is acknowledged (steps 5-6), the next batch is already handled and committed
        (steps 1-4); its own steps 5-6 wait for the previous ones, so acks stay in order."""
        while not self._stopping:
            batch = [await self._buffer.get()]
            self._idle.clear()
            try:
                self._take_available(batch)
                if len(batch) < self._batch_max:
                    # deliveries read from the socket together arrive one task apart
                    await asyncio.sleep(0)
                    self._take_available(batch)
                settlement = await self._work(batch)
                if self._settling is not None:
                    await self._settling
                    self._settling = None
                if settlement is not None:
                    self._settling = asyncio.create_task(self._settle_or_requeue(settlement))
            except Exception as exc:
                self._log.error("batch failed unexpectedly", error=str(exc), exc_info=True)
                if self._subscription is not None:
                    await self._subscription.requeue(batch)
            finally:
                self._idle.set()

    def _take_available(self, batch: list[Delivery]) -> None:
        while len(batch) < self._batch_max and not self._buffer.empty():
            batch.append(self._buffer.get_nowait())

    async def process(self, batch: Sequence[Delivery]) -> BatchResult:
        """Runs one batch through steps 1-6 (see the module docstring)."""
        settlement = await self._work(batch)
        if settlement is None:
            return BatchResult(requeued=len(batch))
        await self._settle(settlement)
        return settlement.result

    async def _work(self, batch: Sequence[Delivery]) -> Settlement | None:
        """Steps 1-4; None when the batch did not commit and went back to the queue."""
        result = BatchResult()
        now = utcnow()
        outgoing: list[tuple[Delivery, Publication]] = []
        units: list[Unit] = []
        for delivery in batch:
            try:
                envelope, contract = self._decode(delivery)
            except PoisonMessage as poison:
                self._observer.consumed(self.endpoint.name, None)
                outgoing.append((delivery, self._failures.poison(delivery, poison, now)))
                result.dead_lettered += 1
            else:
                self._observer.consumed(self.endpoint.name, envelope)
                units.append((delivery, envelope, contract))

        rows: list[Row] = []
        if units:
            try:
                rows, failures = await self._commit(units, result)
                unit_of = {id(unit[0]): unit for unit in units}
                for _ in range(CONFLICT_REPLAYS):
                    conflicted = [f for f in failures if is_conflict(f[2])]
                    if not conflicted:
                        break
                    # a lost race (deadlock, stale version) is not a fault of the message:
                    # replay it at once in a transaction of its own, not after a delay tier
                    failures = [f for f in failures if not is_conflict(f[2])]
                    more_rows, more_failures = await self._commit(
                        [unit_of[id(d)] for d, _, _ in conflicted], result
                    )
                    rows += more_rows
                    failures += more_failures
            except Exception as exc:
                await self._requeue_after_commit_failure(batch, exc)
                return None
            for delivery, envelope, error in failures:
                publications, retried = self._failures.failure(delivery, envelope, error, now)
                outgoing += [(delivery, publication) for publication in publications]
                if retried:
                    result.retried += 1
                else:
                    result.dead_lettered += 1
        self._backoff.succeeded()
        return Settlement(batch, outgoing, rows, result)

    async def _settle(self, settlement: Settlement) -> None:
        """Steps 5-6: publish what the batch produced, then acknowledge it."""
        batch, result = settlement.batch, settlement.result
        unsettled = await self._publish(settlement.outgoing, settlement.rows)
        if result.duplicates:
            self._relay.notify()
        if self._subscription is not None:
            done = [d for d in batch if id(d) not in unsettled]
            await self._subscription.ack(done)
            if unsettled:
                back = [d for d in batch if id(d) in unsettled]
                await self._subscription.requeue(back)
                result.requeued = len(back)

    async def _settle_or_requeue(self, settlement: Settlement) -> None:
        try:
            await self._settle(settlement)
        except Exception as exc:
            # committed already: a redelivery is a duplicate and only re-sends the outbox
            self._log.error("settling a batch failed", error=str(exc), exc_info=True)
            if self._subscription is not None:
                await self._subscription.requeue(settlement.batch)

    async def _commit(
        self, units: Sequence[Unit], result: BatchResult
    ) -> tuple[list[Row], list[Failure]]:
        """Steps 2-4 for every unit of the batch, in one transaction, first without
        savepoints and with one inbox statement for the batch. Should a handler raise,
        that transaction is rolled back, the unit becomes a failure (retried later, as
        if its savepoint had been rolled back) and the rest of the batch runs again;
        after `FAST_TRIES` such failures, with a savepoint per unit."""
        failed: list[Failure] = []
        remaining = list(units)
        for _ in range(FAST_TRIES):
            try:
                rows, failures = await self._commit_once(remaining, result, isolated=False)
            except _HandlerRaised as raised:
                failed.append(raised.failure)
                remaining = [u for u in remaining if u[0] is not raised.failure[0]]
                if not remaining:
                    return [], failed
                continue
            return rows, failed + failures
        rows, failures = await self._commit_once(remaining, result, isolated=True)
        return rows, failed + failures

    async def _commit_once(
        self, units: Sequence[Unit], result: BatchResult, *, isolated: bool
    ) -> tuple[list[Row], list[Failure]]:
        marks = self._relay.take_unmarked()
        committed = False
        facts = Facts(self._observer)
        handled = duplicates = 0
        try:
            async with self._store.transaction() as tx:
                fresh = None if isolated else await tx.inbox_add_many(
                    self.queue, [envelope.message_id for _, envelope, _ in units]
                )
                if fresh is not None and isinstance(self.endpoint, BatchReader):
                    await self.endpoint.prepare(
                        tx, [envelope for _, envelope, _ in units if envelope.message_id in fresh]
                    )
                failures: list[Failure] = []
                outgoing: list[Envelope] = []
                for delivery, envelope, contract in units:
                    try:
                        sent = await self._handle(tx, envelope, contract, facts, fresh)
                    except Exception as exc:
                        if not isolated:
                            raise _HandlerRaised((delivery, envelope, exc)) from exc
                        failures.append((delivery, envelope, exc))
                        continue
                    if sent is None:
                        duplicates += 1
                    else:
                        handled += 1
                        outgoing.extend(sent)
                # one insert for the batch (what failed handlers queued is not in it),
                # with the rows published since the last batch marked sent
                ids = await tx.outbox_write(outgoing, marks)
            committed = True
        finally:
            self._relay.settle_marks(marks, committed=committed)
        facts.commit()
        result.handled += handled
        result.duplicates += duplicates
        return list(zip(ids, outgoing, strict=True)), failures

    async def _handle(
        self,
        tx: Transaction,
        envelope: Envelope,
        contract: Message | None,
        facts: Facts,
        fresh: set[str] | None,
    ) -> list[Envelope] | None:
        """One unit of work: the envelopes it queued, or None for a duplicate. `fresh`:
        the batch's ids its inbox statement found new, or None to run the unit in a
        savepoint of its own (its inbox row with it) that an exception rolls back. An
        exception leaves nothing of the unit behind in `facts`."""
        name = self.endpoint.name
        with log_context(
            endpoint=name,
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
        ), facts.open():
            async with tx.savepoint() if fresh is None else nullcontext():
                if not await self._first_delivery(tx, envelope.message_id, fresh):
                    facts.add(lambda o: o.handled(name, envelope, "duplicate"))
                    return None
                with self._observer.handling(name, envelope) as observed:
                    ctx = HandlerContext(
                        endpoint=name,
                        tx=tx,
                        message=observed,
                        contract=contract,
                        log=self._log.bind(
                            message_id=envelope.message_id,
                            correlation_id=envelope.correlation_id,
                            type=envelope.type,
                        ),
                    )
                    await self.endpoint.handle(observed, ctx)
                facts.add(lambda o: o.handled(name, envelope, "success"))
                return ctx.outgoing

    async def _first_delivery(
        self, tx: Transaction, message_id: str, fresh: set[str] | None
    ) -> bool:
        """Whether this delivery is not a duplicate (taken from `fresh` when given)."""
        if fresh is None:
            return await tx.inbox_add(self.queue, message_id)
        if message_id in fresh:
            fresh.discard(message_id)
            return True
        return False

    async def _publish(
        self, outgoing: Sequence[tuple[Delivery, Publication]], rows: Sequence[Row]
    ) -> set[int]:
        """Publishes retries, dead letters and new outbox rows, confirms awaited
        together; returns the ids of deliveries whose republication failed (they must
        not be acknowledged)."""
        publications = [p for _, p in outgoing]
        outcomes, _ = await asyncio.gather(
            self._transport.publish(publications), self._relay.publish(rows)
        )
        unsettled = {
            id(delivery)
            for (delivery, _), outcome in zip(outgoing, outcomes, strict=True)
            if outcome is not Outcome.CONFIRMED
        }
        if unsettled:
            self._log.warning(
                "retry or dead-letter publish failed; the deliveries go back to the queue",
                count=len(unsettled),
            )
        return unsettled

    def _decode(self, delivery: Delivery) -> tuple[Envelope, Message | None]:
        envelope = delivery.envelope(self._max_body_bytes)
        name = envelope.type
        known = name in self._contracts
        if name not in self._types:
            if known:
                raise PoisonMessage(f"{name} is not handled by endpoint {self.endpoint.name}")
            raise PoisonMessage(f"unknown message type {name!r}")
        if not known:
            # bound by the endpoint without a registered contract: it reads the raw payload
            return envelope, None
        try:
            current = self._contracts.get(name).__version__
            if envelope.version != current:
                payload = self._contracts.upcast(name, envelope.version, envelope.payload)
                envelope = replace(envelope, payload=payload, version=current)
            return envelope, self._contracts.parse(name, current, envelope.payload)
        except (UnknownVersion, ContractViolation) as exc:
            raise PoisonMessage(str(exc)) from None
        except Exception as exc:
            raise PoisonMessage(f"upcasting {name} failed: {exc!r}") from None

    async def _requeue_after_commit_failure(
        self, batch: Sequence[Delivery], error: Exception
    ) -> None:
        pause = self._backoff.failed()
        self._log.error(
            "unit of work did not commit; the batch goes back to the queue",
            error=f"{type(error).__name__}: {error}",
            deliveries=len(batch),
            retry_in=pause,
        )
        if self._subscription is not None:
            await self._subscription.requeue(batch)
        await asyncio.sleep(pause)
