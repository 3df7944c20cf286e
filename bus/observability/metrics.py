"""Prometheus metrics: the definitions, and the observer that keeps them.

`Metrics` is an `Observer` (bus/observability/observe.py): the pipeline, the relay and the saga
engine report to it what happened; the gauges that are read rather than reported
(queue depths, instances by state, outbox backlog, timer delay) are set by the
`Sampler` (bus/observability/sampler.py). `sagabus run --metrics-port PORT` serves them at
`/metrics` (bus/observability/health.py). docs/operations.md lists every metric with what it means.

Each `Metrics` has a registry of its own (so two buses in one process, or two tests,
never share counts); pass `registry=prometheus_client.REGISTRY` to join the process's
default one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, overload

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bus.observability.observe import (
    DeadLetterReason,
    HandledOutcome,
    Observer,
    PublishOutcome,
    SagaOutcome,
)
from bus.wire.envelope import Envelope, utcnow

HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
"""Seconds a handler runs (inside its unit of work, before the commit)."""

LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""Seconds from a message's timestamp to its handling. AMQP timestamps are whole
seconds, so the lag reads up to a second high: buckets below a second mean little."""

SAGA_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0)
"""Seconds from a saga's start to its final state."""

OVERDUE_AFTER = timedelta(seconds=5)
"""A due timer still unfired this long after its time is overdue: the scheduler or the
store is behind."""

UNKNOWN = "unknown"
"""The type label of a delivery whose type the endpoint does not handle (poison):
untrusted input never becomes a label value."""


M = TypeVar("M", Counter, Gauge, Histogram)


class Declared(Generic[M]):
    """One metric of `Metrics`, declared once in its class body. Each `Metrics` makes
    its own in its registry; the instance's attribute then hides the declaration."""

    def __init__(self, kind: type[M], name: str, *labels: str, doc: str, **options: Any) -> None:
        self.kind: type[M] = kind
        self.name, self.labels, self.doc, self.options = name, labels, doc, options

    def create(self, registry: CollectorRegistry) -> M:
        metric: M = self.kind(self.name, self.doc, self.labels, registry=registry, **self.options)
        return metric

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Declared[M]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any]) -> M: ...
    def __get__(self, instance: object | None, owner: type[Any]) -> Declared[M] | M:
        if instance is None:
            return self
        raise AttributeError(f"{self.name} is made by Metrics.__init__")


class Metrics(Observer):
    """Every sagabus metric, in `registry` (default: a registry of its own)."""

    # What the pipeline and the outbox relay report.
    messages_consumed = Declared(Counter, "sagabus_messages_consumed", "endpoint", "type",
        doc="Deliveries taken from an endpoint's queue.")
    messages_handled = Declared(Counter, "sagabus_messages_handled", "endpoint", "type", "outcome",
        doc="Deliveries by outcome: success (handled and committed), duplicate (inbox hit,"
        " handler skipped), failed (the handler raised).")
    messages_retried = Declared(Counter, "sagabus_messages_retried", "endpoint", "type",
        doc="Failed deliveries sent to a retry queue.")
    messages_dead_lettered = Declared(
        Counter, "sagabus_messages_dead_lettered", "endpoint", "type", "reason",
        doc="Deliveries sent to the dead-letter queue: poison, or failed on the last attempt.")
    messages_published = Declared(Counter, "sagabus_messages_published", "type", "outcome",
        doc="Outbox rows published: confirmed, parked as unroutable, or failed (sent again).")
    handler_duration = Declared(
        Histogram, "sagabus_handler_duration_seconds", "endpoint", "type",
        doc="Time a handler ran, failures included.", buckets=HANDLER_BUCKETS)
    lag = Declared(Histogram, "sagabus_consumer_lag_seconds", "endpoint",
        doc="Seconds from a message's timestamp (whole seconds) to its consumption.",
        buckets=LAG_BUCKETS)

    # What the saga engine reports, once its transaction committed.
    sagas_started = Declared(Counter, "sagabus_sagas_started", "saga",
        doc="Saga instances started.")
    sagas_finished = Declared(Counter, "sagabus_sagas_finished", "saga", "outcome",
        doc="Saga instances that entered a final state.")
    saga_duration = Declared(Histogram, "sagabus_saga_duration_seconds", "saga", "outcome",
        doc="Seconds from a saga's start to its final state.", buckets=SAGA_BUCKETS)
    compensations = Declared(Counter, "sagabus_saga_compensations", "saga", "state",
        doc="Compensations sent, by the state they undo (a resend counts again).")
    parkings = Declared(Counter, "sagabus_sagas_parked", "saga", "state",
        doc="Saga instances parked for a human, by state.")
    timers_due_now = Declared(Gauge, "sagabus_timers_due",
        doc="Timers due at the scheduler's last look (one batch at most).")
    timers_overdue = Declared(Gauge, "sagabus_timers_overdue",
        doc=f"Of those, timers due more than {OVERDUE_AFTER.total_seconds():g}s ago.")

    # What the sampler (bus/observability/sampler.py) sets on each look.
    queue_depth = Declared(Gauge, "sagabus_queue_depth", "queue",
        doc="Messages ready in a queue (endpoint queues and DLQs).")
    saga_instances = Declared(Gauge, "sagabus_saga_instances", "saga", "state",
        doc="Saga instances by saga and state (all statuses).")
    parked_instances = Declared(Gauge, "sagabus_saga_instances_parked", "saga",
        doc="Saga instances parked now, waiting for a human.")
    outbox_backlog = Declared(Gauge, "sagabus_outbox_backlog",
        doc="Outbox rows committed and not yet sent.")
    timer_delay = Declared(Gauge, "sagabus_timer_delay_seconds",
        doc="How long the earliest timer is past due (0 when none is): grows when timers"
        " are not fired.")

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        for attribute, declared in vars(Metrics).items():
            if isinstance(declared, Declared):
                setattr(self, attribute, declared.create(self.registry))
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered: the hot path skips the library's
        lock and label checks after the first time."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # -- Observer ------------------------------------------------------------------------
    def consumed(self, endpoint: str, envelope: Envelope | None) -> None:
        if envelope is None:
            self._child(self.messages_consumed, endpoint, UNKNOWN).inc()
            return
        self._child(self.messages_consumed, endpoint, envelope.type).inc()
        lag = (utcnow() - envelope.timestamp).total_seconds()
        self._child(self.lag, endpoint).observe(max(0.0, lag))

    def handling(self, endpoint: str, envelope: Envelope) -> _Timed:
        return _Timed(self._child(self.handler_duration, endpoint, envelope.type), envelope)

    def handled(self, endpoint: str, envelope: Envelope, outcome: HandledOutcome) -> None:
        self._child(self.messages_handled, endpoint, envelope.type, outcome).inc()

    def retried(self, endpoint: str, envelope: Envelope, attempt: int) -> None:
        self._child(self.messages_retried, endpoint, envelope.type).inc()

    def dead_lettered(
        self, endpoint: str, type_name: str | None, reason: DeadLetterReason
    ) -> None:
        self._child(self.messages_dead_lettered, endpoint, type_name or UNKNOWN, reason).inc()

    def published(self, envelope: Envelope, outcome: PublishOutcome) -> None:
        self._child(self.messages_published, envelope.type, outcome).inc()

    def timers_due(self, due: Sequence[datetime], now: datetime) -> None:
        late = now - OVERDUE_AFTER
        self.timers_due_now.set(len(due))
        self.timers_overdue.set(sum(1 for at in due if at < late))

    def saga_started(self, saga: str) -> None:
        self._child(self.sagas_started, saga).inc()

    def saga_finished(self, saga: str, outcome: SagaOutcome, seconds: float) -> None:
        self._child(self.sagas_finished, saga, outcome).inc()
        self._child(self.saga_duration, saga, outcome).observe(seconds)

    def saga_compensated(self, saga: str, state: str) -> None:
        self._child(self.compensations, saga, state).inc()

    def saga_parked(self, saga: str, state: str) -> None:
        self._child(self.parkings, saga, state).inc()


class _Timed:
    """Times one handler call into a histogram child."""

    __slots__ = ("_envelope", "_histogram", "_started")

    def __init__(self, histogram: Any, envelope: Envelope) -> None:
        self._histogram = histogram
        self._envelope = envelope
        self._started = 0.0

    def __enter__(self) -> Envelope:
        self._started = time.perf_counter()
        return self._envelope

    def __exit__(self, *exc: object) -> None:
        self._histogram.observe(time.perf_counter() - self._started)
