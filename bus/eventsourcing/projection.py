"""Projections: read models kept up to date by following the global event log.

A `Projection` marks one async method per event type with `@on(EventType)`; each gets
the transaction and the `RecordedEvent`, and writes its read model through the
transaction (typically `tx.state_put` in the namespaces the projection declares).

A `ProjectionRunner` moves a projection along the log in batches. Each batch is one
transaction that locks the projection's checkpoint, applies the events after it and
moves the checkpoint to the last one, so the read model and the checkpoint always agree:
every event takes effect exactly once, whatever crashes in between. A handler that
raises undoes its own writes; the events before it are kept, the checkpoint stops just
before it, the failure is counted and the batch is tried again later. After
`max_attempts` failures on one event the projection is parked with the reason, until
`resume` or `rebuild`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import structlog

from bus.eventsourcing.dispatch import dispatch_table, mark
from bus.eventsourcing.event_store import EventStore, RecordedEvent
from bus.store.base import ProjectionRecord, Store, StoredEvent, Transaction
from bus.wire.contracts import Event, Registry, registry

F = TypeVar("F", bound=Callable[..., Awaitable[None]])

BATCH_SIZE = 500
"""Events applied per transaction by default."""

MAX_ATTEMPTS = 3
"""Failures on one event before its projection is parked, by default."""

RETRY_DELAY = 1.0
"""Seconds before the first retry of a failed event, doubled at every further failure."""

POLL_INTERVAL = 0.5
"""Seconds `ProjectionRunner.run` waits for new events once it has caught up."""

REASON_CHARS = 500
"""Characters of the exception message kept in a failed projection's reason."""

log = structlog.get_logger("bus.eventsourcing.projection")


def on(event_type: type[Event]) -> Callable[[F], F]:
    """Decorator: the projection method that handles events of `event_type`; it is
    called as `method(tx, recorded_event)`."""
    return mark(event_type)


class Projection:
    """Base of projections.

    Class attributes:
        name: the projection's name (its checkpoint's key; `sagabus projection ...`).
            Setting it registers the class, so the CLI finds it by name.
        namespaces: the state namespaces the read model lives in; the default `reset`
            empties them before a rebuild.
    """

    name: ClassVar[str]
    namespaces: ClassVar[tuple[str, ...]] = ()
    _handlers: ClassVar[dict[type[Event], str]] = {}
    _type_names: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = dispatch_table(cls)
        cls._type_names = frozenset(t.message_type() for t in cls._handlers)
        if "name" in cls.__dict__:
            _register(cls)

    def handles(self, type_name: str) -> bool:
        return type_name in self._type_names

    async def apply(self, tx: Transaction, recorded: RecordedEvent[Any]) -> None:
        name = self._handlers.get(type(recorded.event))
        if name is not None:
            await getattr(self, name)(tx, recorded)

    async def reset(self, tx: Transaction) -> None:
        """Empties the read model before a rebuild (default: every document of
        `namespaces`). Override it when the read model lives elsewhere."""
        for namespace in self.namespaces:
            for key, _ in await tx.state_list(namespace):
                await tx.state_delete(namespace, key)


@dataclass(frozen=True, slots=True)
class _Failure:
    index: int
    error: BaseException


class _HandlerFailed(Exception):
    def __init__(self, failure: _Failure) -> None:
        super().__init__(str(failure.error))
        self.failure = failure


StepOutcome = Literal["advanced", "idle", "failed", "parked"]


@dataclass(eq=False)
class ProjectionRunner:
    """Keeps one projection up to date with the log of `store`.

    Parameters:
        store: the store holding the events, the checkpoint and (usually) the read model.
        projection: the projection to run.
        batch_size: events per transaction (default `BATCH_SIZE`).
        max_attempts: failures on one event before parking (default `MAX_ATTEMPTS`).
        retry_delay: seconds before the first retry (default `RETRY_DELAY`).
        contracts: the registry events are read with (default: the process-wide one).
    """

    store: Store
    projection: Projection
    _: KW_ONLY
    batch_size: int = BATCH_SIZE
    max_attempts: int = MAX_ATTEMPTS
    retry_delay: float = RETRY_DELAY
    contracts: Registry = registry

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be at least 1")

    @property
    def name(self) -> str:
        return self.projection.name

    async def status(self) -> ProjectionRecord:
        async with self.store.transaction() as tx:
            return await tx.projection_get(self.name)

    async def catch_up(self) -> ProjectionRecord:
        """Applies every event up to the end of the log, retrying failures after a
        delay; returns the checkpoint when caught up or parked."""
        while True:
            outcome = await self.step()
            if outcome == "failed":
                record = await self.status()
                await asyncio.sleep(self.retry_delay * 2 ** max(record.failures - 1, 0))
            elif outcome != "advanced":
                return await self.status()

    async def run(
        self, stop: asyncio.Event | None = None, *, poll_interval: float = POLL_INTERVAL
    ) -> None:
        """Catches up, then follows the log until `stop` is set (or the task is
        cancelled: the batch in flight rolls back). A parked projection waits (polling)
        until someone resumes or rebuilds it; a failing store is logged and tried again
        at the next poll."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.catch_up()
            except Exception:
                # the store is unreachable or failing: the checkpoint is safe, try later
                log.exception("projection runner failed", projection=self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_interval)

    async def rebuild(self) -> ProjectionRecord:
        """Empties the read model, moves the checkpoint back to zero (one transaction),
        then catches up from the start of the log."""
        async with self.store.transaction() as tx:
            await tx.projection_get(self.name, for_update=True)
            await self.projection.reset(tx)
            await tx.projection_put(ProjectionRecord(name=self.name, position=0))
        return await self.catch_up()

    async def resume(self) -> ProjectionRecord:
        """Un-parks the projection at its checkpoint (after the cause was fixed), then
        catches up."""
        async with self.store.transaction() as tx:
            record = await tx.projection_get(self.name, for_update=True)
            await tx.projection_put(ProjectionRecord(name=self.name, position=record.position))
        return await self.catch_up()

    async def step(self) -> StepOutcome:
        """One batch in one transaction: see the module's docstring."""
        async with self.store.transaction() as tx:
            record = await tx.projection_get(self.name, for_update=True)
            if record.status == "parked":
                return "parked"
            batch = await tx.events_after(record.position, self.batch_size)
            if not batch:
                return "idle"
            events = EventStore(tx, contracts=self.contracts)
            applied, failure = await self._apply(tx, events, batch)
            position = batch[applied - 1].position if applied else record.position
            if failure is None:
                await tx.projection_put(ProjectionRecord(name=self.name, position=position))
                return "advanced"
            failures = 1 if applied else record.failures + 1
            failed = batch[failure.index]
            parked = failures >= self.max_attempts
            message = str(failure.error)
            if len(message) > REASON_CHARS:
                message = message[:REASON_CHARS] + "..."
            reason = (
                f"{type(failure.error).__name__}: {message} "
                f"(at {failed.type} position {failed.position}, stream {failed.stream_id!r} "
                f"version {failed.version}; {failures} attempt{'s' if failures > 1 else ''})"
            )
            await tx.projection_put(
                ProjectionRecord(
                    name=self.name,
                    position=position,
                    status="parked" if parked else "running",
                    reason=reason,
                    failures=failures,
                )
            )
        log.warning(
            "projection parked" if parked else "projection handler failed",
            projection=self.name,
            reason=reason,
        )
        return "parked" if parked else "failed"

    async def _apply(
        self, tx: Transaction, events: EventStore, batch: Sequence[StoredEvent]
    ) -> tuple[int, _Failure | None]:
        """Applies `batch`; on a failure, undoes it and applies only the events before
        the failing one. Returns how many events took effect and the failure, if any."""
        failure: _Failure | None = None
        todo = batch
        while todo:
            try:
                async with tx.savepoint():
                    for index, stored in enumerate(todo):
                        if not self.projection.handles(stored.type):
                            continue
                        try:
                            await self.projection.apply(tx, events.decode(stored))
                        except Exception as exc:
                            raise _HandlerFailed(_Failure(index, exc)) from exc
                return len(todo), failure
            except _HandlerFailed as exc:
                failure = exc.failure
                todo = todo[: failure.index]
        return 0, failure


class HasStore(Protocol):
    """What `projection_task` needs of the bus it runs beside."""

    @property
    def store(self) -> Store: ...


def projection_task(
    projection: Projection, **options: Any
) -> Callable[[HasStore], Coroutine[Any, Any, None]]:
    """A background task for `bus.unitofwork.runtime.Bus(background=...)` that keeps `projection`
    up to date in the bus's store while the bus runs; `options` go to
    `ProjectionRunner`."""

    async def follow(bus: HasStore) -> None:
        await ProjectionRunner(bus.store, projection, **options).run()

    follow.__name__ = follow.__qualname__ = f"projection:{projection.name}"
    return follow


_projections: dict[str, type[Projection]] = {}


def _register(cls: type[Projection]) -> None:
    known = _projections.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise ValueError(
            f"projection {cls.name!r} is defined already by {known.__module__}.{known.__qualname__}"
        )
    _projections[cls.name] = cls


def registered_projections() -> dict[str, type[Projection]]:
    """Every projection class with a `name`, by name."""
    return dict(_projections)
