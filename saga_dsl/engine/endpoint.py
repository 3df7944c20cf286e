"""The saga endpoint: queue `saga.<name>`, bound to every event its saga listens to.

Per delivery, inside the pipeline's unit of work (inbox already checked): find or
create the instance by correlation, run the machine, save the instance with its
optimistic version check, append history, arm and cancel timers, and hand the
outgoing messages to the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bus.errors import DuplicateInstance, SagabusError
from bus.store.base import SagaRecord, Transaction
from bus.unitofwork.endpoint import HandlerContext
from bus.unitofwork.retry import RetryPolicy
from bus.wire.contracts import Registry, registry
from bus.wire.envelope import Envelope, utcnow
from saga_dsl import EventInput, Machine
from saga_dsl.engine.batch_read import BatchRead, Key, read_batch
from saga_dsl.engine.recording import Cause, advance, record_step

INSTANCE_NAMESPACE = uuid.UUID("4b3f8f59-4a7e-4d59-9a33-5a6a0b8d1c2e")
"""Instance ids are derived from (saga, correlation): the same start twice is the same id."""


class DefinitionNotLoaded(SagabusError):
    """An instance started on a definition version that this daemon does not have."""


def instance_id(saga: str, correlation: str) -> str:
    return str(uuid.uuid5(INSTANCE_NAMESPACE, f"{saga}\x00{correlation}"))


def endpoint_name(saga: str) -> str:
    return f"saga.{saga}"


class SagaEndpoint:
    """Serves one saga definition (its `Machine`) on the bus."""

    def __init__(
        self,
        machine: Machine,
        *,
        older: Sequence[Machine] = (),
        retry: RetryPolicy | None = None,
        contracts: Registry = registry,
    ) -> None:
        self.machine = machine
        self.versions: Mapping[int, Machine] = {m.version: m for m in (*older, machine)}
        """Every version served: new instances start on `machine` (the newest), each
        running one goes on with the version it started on."""
        self._name = endpoint_name(machine.name)
        self._retry = retry or RetryPolicy()
        self.contracts = contracts
        self._batch: BatchRead | None = None
        """The instances the current batch read at once (`prepare`), of its transaction."""

    def __repr__(self) -> str:
        return f"<SagaEndpoint {self._name} v{self.machine.version}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def commands(self) -> frozenset[str]:
        return frozenset()

    @property
    def events(self) -> frozenset[str]:
        listened = (m.listens_to for m in self.versions.values())
        return frozenset({self.machine.start_event}).union(*listened)

    def machine_of(self, record: SagaRecord) -> Machine:
        """The definition `record` runs on; raises `DefinitionNotLoaded` for a running
        instance whose version is not served (a finished or parked one gets the newest:
        it ignores nearly everything anyway)."""
        machine = self.versions.get(record.definition_version)
        if machine is not None:
            return machine
        if record.status != "running":
            return self.machine
        served = sorted(self.versions)
        loaded = (f"version {served[0]} is" if len(served) == 1
                  else f"versions {', '.join(map(str, served))} are")
        raise DefinitionNotLoaded(
            f"instance {record.id} of saga {record.saga} runs on version "
            f"{record.definition_version}, but {loaded} loaded"
        )

    @property
    def retry(self) -> RetryPolicy:
        return self._retry

    async def prepare(self, tx: Transaction, messages: Sequence[Envelope]) -> None:
        """Reads at once the instances `_find` would read one delivery at a time."""
        finding = [m for m in messages if not self._starts_first(m)]
        self._batch = await read_batch(
            tx,
            self.machine.name,
            (m.correlation_id for m in finding if m.correlation_id),
            (v for v in map(self._correlation_value, finding) if v is not None),
        )

    def _starts_first(self, message: Envelope) -> bool:
        return message.type == self.machine.start_event and not message.correlation_id

    async def handle(self, message: Envelope, ctx: HandlerContext) -> None:
        now = utcnow()
        given = EventInput(message.type, message.payload, message.message_id)
        cause = Cause(given, message.message_id, message.traceparent)
        starts = message.type == self.machine.start_event
        # most start events start an instance: start it (one statement, which writes
        # nothing when the instance exists), and look for the instance only when it
        # exists, as `_find` would have found it first
        if self._starts_first(message) and await self._start(
            message, ctx, cause, found_next=True
        ):
            return
        record = await self._find(message, ctx)
        if record is None:
            if not starts:
                ctx.log.warning(
                    "event for no instance of this saga: ignored",
                    saga=self.machine.name,
                    correlate=self._correlation_value(message),
                )
                return
            await self._start(message, ctx, cause)
            return
        self._forget(ctx, record)
        # raises for a running instance on a version not served here (retried: another
        # daemon may have it)
        machine = self.machine_of(record)
        envelopes = await advance(ctx.tx, machine, record, cause, now, self.contracts)
        if envelopes is None:
            ctx.log.info(
                "event not accepted in this state: ignored",
                saga=record.saga,
                instance_id=record.id,
                state=record.state,
                status=record.status,
            )
            return
        self._emit(ctx, envelopes)

    async def _start(
        self, message: Envelope, ctx: HandlerContext, cause: Cause, *, found_next: bool = False
    ) -> bool:
        """Starts an instance; False when it exists and `found_next` (the caller
        finds it and steps it), else True (started, or the duplicate ignored)."""
        now = utcnow()
        correlation = (
            self._correlation_value(message) or message.correlation_id or message.message_id
        )
        assert isinstance(cause.input, EventInput)
        step = self.machine.start(cause.input, now)
        record = SagaRecord(
            id=instance_id(self.machine.name, correlation),
            saga=self.machine.name,
            definition_version=self.machine.version,
            correlation=correlation,
            state=step.instance.state,
            machine={"started_by": message.causation_id},
        )
        self._forget(ctx, record)
        try:
            # no savepoint: the insert is record_step's first write, and a duplicate
            # leaves the transaction as it was (ON CONFLICT DO NOTHING, then a read)
            envelopes = await record_step(
                ctx.tx, record, step, cause, now, self.contracts, created=True
            )
        except DuplicateInstance as exc:
            # one that was there before this start: stepped, as if `_find` had found it
            # (a start racing this one's is dropped, as `_start` after `_find` drops it)
            if found_next and not exc.raced and await self._find(message, ctx) is not None:
                return False
            ctx.log.info(
                "start event for an existing instance: duplicate ignored",
                saga=self.machine.name,
                correlation=correlation,
            )
            return True
        ctx.log.info(
            "saga started",
            saga=self.machine.name,
            instance_id=record.id,
            correlation=correlation,
            state=step.to_state,
        )
        self._emit(ctx, envelopes)
        return True

    async def _find(self, message: Envelope, ctx: HandlerContext) -> SagaRecord | None:
        if message.correlation_id:
            record = await self._read(ctx, ("id", message.correlation_id))
            if record is not None and record.saga == self.machine.name:
                return record
        value = self._correlation_value(message)
        if value is None:
            return None
        return await self._read(ctx, ("correlation", value))

    async def _read(self, ctx: HandlerContext, key: Key) -> SagaRecord | None:
        """The instance for `key`, from the batch's read when it has it, else read (and
        locked) now."""
        if self._batch is not None and self._batch.holds(ctx.tx, key):
            return self._batch.found[key]
        kind, value = key
        if kind == "id":
            return await ctx.tx.saga_get(value, for_update=True)
        return await ctx.tx.saga_find(self.machine.name, value, for_update=True)

    def _forget(self, ctx: HandlerContext, record: SagaRecord) -> None:
        """Before `record` is written: later deliveries of the batch read it again."""
        if self._batch is not None and self._batch.tx is ctx.tx:
            self._batch.forget(record.id, record.correlation)

    def _correlation_value(self, message: Envelope) -> str | None:
        field = self.machine.correlate
        if field is None:
            return None
        value: Any = message.payload.get(field)
        return None if value is None else str(value)

    @staticmethod
    def _emit(ctx: HandlerContext, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:  # stamped by the step (correlation, causation, trace)
            ctx.forward(envelope)
