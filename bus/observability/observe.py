"""Observers: what metrics, traces and logs learn from the bus, one hook per fact.

The pipeline, the outbox relay and the saga engine call an `Observer` at a few points
and know nothing of what it does with them (the Dramatiq lesson: cross-cutting
concerns are small pluggable pieces around the handler call). Every hook of
`Observer` does nothing; `metrics.Metrics`, `tracing.Tracing` and
`message_log.MessageLog` override the ones they need, and `compose` runs several as
one, calling each only for the hooks it overrides.

Facts reported while a transaction is open (a message handled, a saga finished, ...)
reach the observer only once that transaction commits: a rolled-back unit of work
never happened, and its redelivery reports them again. The pipeline and the timer
scheduler run each transaction inside a `Facts`; code running in it (the saga engine)
hands its facts over with `report`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Literal, TypeVar

from bus.observability.logging import get_logger
from bus.wire.envelope import Envelope

HandledOutcome = Literal["success", "duplicate", "failed"]
"""success: the handler ran and its unit committed; duplicate: the inbox knew the
message, the handler was skipped; failed: the handler raised (a retry or a dead
letter follows)."""

DeadLetterReason = Literal["poison", "failed"]
"""poison: no retry could fix it (not JSON, unknown type, ...); failed: the handler
raised on the last attempt."""

PublishOutcome = Literal["confirmed", "parked", "failed"]
"""confirmed by the broker; parked in the unroutable queue (a command nobody handles);
failed (nacked or no connection: the row stays pending and is sent again)."""

SagaOutcome = Literal["success", "failure"]

log = get_logger("sagabus.observe")

T = TypeVar("T")


class Observer:
    """The hooks; each one here does nothing. Hooks must be quick and must not raise:
    they run on the bus's hot path."""

    # -- the pipeline --------------------------------------------------------------------
    def consumed(self, endpoint: str, envelope: Envelope | None) -> None:
        """A delivery was taken from `endpoint`'s queue; None when it could not be
        decoded (it is dead-lettered as poison)."""

    def handling(self, endpoint: str, envelope: Envelope) -> AbstractContextManager[Envelope]:
        """Wraps the handler call, inside the unit's transaction; yields the envelope
        the handler is given (a tracer gives it the traceparent of its own span, so
        what the handler sends continues the trace). The handler's exception passes
        through."""
        return _Unchanged(envelope)

    def handled(self, endpoint: str, envelope: Envelope, outcome: HandledOutcome) -> None:
        """What became of a decoded delivery (see `HandledOutcome`)."""

    def retried(self, endpoint: str, envelope: Envelope, attempt: int) -> None:
        """The handler failed `attempt` times; the message waits in a retry queue."""

    def dead_lettered(self, endpoint: str, type_name: str | None, reason: DeadLetterReason) -> None:
        """A delivery went to the endpoint's DLQ; `type_name` is None when the
        delivery's type is not one the endpoint handles."""

    # -- the outbox relay ----------------------------------------------------------------
    def published(self, envelope: Envelope, outcome: PublishOutcome) -> None:
        """An outbox row was published (or parked, or failed to be)."""

    # -- the saga engine -----------------------------------------------------------------
    def firing(
        self, saga: str, timer: str, traceparent: str | None
    ) -> AbstractContextManager[str | None]:
        """Wraps the step a durable timer causes; yields the traceparent the step's
        messages carry (by default the one stored with the timer)."""
        return _Unchanged(traceparent)

    def timers_due(self, due: Sequence[datetime], now: datetime) -> None:
        """The timer scheduler found timers due at `due` (one batch at most)."""

    def saga_started(self, saga: str) -> None: ...

    def saga_finished(self, saga: str, outcome: SagaOutcome, seconds: float) -> None:
        """An instance entered a final state `seconds` after it started."""

    def saga_compensated(self, saga: str, state: str) -> None:
        """The compensation of `state` was sent (a resend, when its `until` event did not
        come in time, reports again)."""

    def saga_parked(self, saga: str, state: str) -> None:
        """An instance stopped in `state` and waits for a human."""


NO_OBSERVER = Observer()
"""The observer that does nothing."""


class _Unchanged(AbstractContextManager[T]):
    """A context that yields its value and does nothing else (cheaper than
    `contextlib.nullcontext` on the hot path)."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def __enter__(self) -> T:
        return self._value

    def __exit__(self, *exc: object) -> None:
        return None


def compose(observers: Sequence[Observer]) -> Observer:
    """One observer for several: `NO_OBSERVER` for none, the observer itself for one."""
    if not observers:
        return NO_OBSERVER
    if len(observers) == 1:
        return observers[0]
    return Observers(observers)


HOOKS = tuple(n for n, value in vars(Observer).items() if not n.startswith("_") and callable(value))
"""The names of the observer's hooks."""


def _overriding(observers: Sequence[Observer], hook: str) -> tuple[Observer, ...]:
    base = getattr(Observer, hook)
    return tuple(o for o in observers if getattr(type(o), hook) is not base)


class Observers(Observer):
    """Several observers as one, in order; each hook calls only the observers that
    override it."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)
        self._by_hook = {hook: _overriding(observers, hook) for hook in HOOKS}

    def consumed(self, endpoint: str, envelope: Envelope | None) -> None:
        for o in self._by_hook["consumed"]:
            o.consumed(endpoint, envelope)

    def handling(self, endpoint: str, envelope: Envelope) -> AbstractContextManager[Envelope]:
        if len(self._by_hook["handling"]) == 1:
            return self._by_hook["handling"][0].handling(endpoint, envelope)
        if not self._by_hook["handling"]:
            return _Unchanged(envelope)
        return self._nested_handling(endpoint, envelope)

    @contextmanager
    def _nested_handling(self, endpoint: str, envelope: Envelope) -> Iterator[Envelope]:
        with ExitStack() as stack:
            for o in self._by_hook["handling"]:
                envelope = stack.enter_context(o.handling(endpoint, envelope))
            yield envelope

    def handled(self, endpoint: str, envelope: Envelope, outcome: HandledOutcome) -> None:
        for o in self._by_hook["handled"]:
            o.handled(endpoint, envelope, outcome)

    def retried(self, endpoint: str, envelope: Envelope, attempt: int) -> None:
        for o in self._by_hook["retried"]:
            o.retried(endpoint, envelope, attempt)

    def dead_lettered(self, endpoint: str, type_name: str | None, reason: DeadLetterReason) -> None:
        for o in self._by_hook["dead_lettered"]:
            o.dead_lettered(endpoint, type_name, reason)

    def published(self, envelope: Envelope, outcome: PublishOutcome) -> None:
        for o in self._by_hook["published"]:
            o.published(envelope, outcome)

    @contextmanager
    def firing(self, saga: str, timer: str, traceparent: str | None) -> Iterator[str | None]:
        with ExitStack() as stack:
            for o in self._by_hook["firing"]:
                traceparent = stack.enter_context(o.firing(saga, timer, traceparent))
            yield traceparent

    def timers_due(self, due: Sequence[datetime], now: datetime) -> None:
        for o in self._by_hook["timers_due"]:
            o.timers_due(due, now)

    def saga_started(self, saga: str) -> None:
        for o in self._by_hook["saga_started"]:
            o.saga_started(saga)

    def saga_finished(self, saga: str, outcome: SagaOutcome, seconds: float) -> None:
        for o in self._by_hook["saga_finished"]:
            o.saga_finished(saga, outcome, seconds)

    def saga_compensated(self, saga: str, state: str) -> None:
        for o in self._by_hook["saga_compensated"]:
            o.saga_compensated(saga, state)

    def saga_parked(self, saga: str, state: str) -> None:
        for o in self._by_hook["saga_parked"]:
            o.saga_parked(saga, state)


Fact = Callable[[Observer], None]
"""A hook call waiting for its transaction to commit: `lambda o: o.saga_started(s)`."""

_facts: ContextVar[Facts | None] = ContextVar("sagabus_facts", default=None)


class Facts:
    """The facts one transaction reported, held until it commits.

        facts = Facts(observer)
        with facts.open():                   # per savepoint, if need be
            async with store.transaction() as tx:
                ...                          # report(...) lands in `facts`
        facts.commit()                       # only reached when the commit succeeded
    """

    __slots__ = ("_facts", "observer")

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self._facts: list[Fact] = []

    @contextmanager
    def open(self) -> Iterator[Facts]:
        """Makes these the facts that `report` and `current_observer` see, like a
        savepoint: an exception leaving the block forgets what was reported in it."""
        token = _facts.set(self)
        mark = len(self._facts)
        try:
            yield self
        except BaseException:
            del self._facts[mark:]
            raise
        finally:
            _facts.reset(token)

    def add(self, fact: Fact) -> None:
        self._facts.append(fact)

    def commit(self) -> None:
        """Passes the facts on to the observer, in the order they were reported."""
        facts, self._facts = self._facts, []
        for fact in facts:
            try:
                fact(self.observer)
            except Exception as exc:  # what was committed stays committed, whatever
                log.warning("an observer failed", error=repr(exc))


def report(fact: Fact) -> None:
    """Hands `fact` to the unit of work in progress; outside one (an engine driven by
    hand, in tests) there is nobody to tell and the fact is dropped."""
    facts = _facts.get()
    if facts is not None:
        facts.add(fact)


def current_observer() -> Observer:
    """The observer of the unit of work in progress (`NO_OBSERVER` outside one)."""
    facts = _facts.get()
    return NO_OBSERVER if facts is None else facts.observer
