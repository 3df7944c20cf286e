"""Tracing with OpenTelemetry (the optional `otel` extra): one order, one trace.

Every message carries a W3C `traceparent` (bus/wire/envelope.py). With tracing on, each
handler call and each saga step runs in a span that is a child of the traceparent of
the message (or timer) that caused it, and what it sends carries the traceparent of
that span, so a trace follows a conversation across every service and saga. Without
OpenTelemetry installed, or with no tracer provider configured, `tracing_observer()`
is None: the bus adds no observer and traceparents are passed on unchanged.

    provider = TracerProvider()                      # opentelemetry-sdk
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    Bus(settings, store, endpoints, observers=[Tracing(provider)])

`sagabus run` turns tracing on when the process has a global SDK tracer provider
(`opentelemetry-instrument sagabus run ...`, configured by the `OTEL_*` variables).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bus.observability.observe import Observer
from bus.wire.envelope import Envelope

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, TracerProvider

TRACER = "sagabus"
"""The instrumentation scope of sagabus's spans."""


@functools.cache
def available() -> bool:
    """Whether the OpenTelemetry API is installed."""
    return importlib.util.find_spec("opentelemetry") is not None and (
        importlib.util.find_spec("opentelemetry.trace") is not None
    )


def tracing_observer(tracer_provider: TracerProvider | None = None) -> Tracing | None:
    """A `Tracing` observer on `tracer_provider`, or on the global provider when that
    is a real one (an SDK's, not the API's no-op default); None when OpenTelemetry is
    not installed or nothing is configured."""
    if not available():
        return None
    from opentelemetry import trace

    provider = tracer_provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return Tracing(provider)


def current_traceparent() -> str | None:
    """The traceparent of the current span (to stamp on a message sent from outside
    the bus: `Envelope.of(command, traceparent=current_traceparent())`), or None."""
    if not available():
        return None
    from opentelemetry import trace

    return _format(trace.get_current_span())


class Tracing(Observer):
    """Spans around handler calls and timer steps, on `tracer_provider`."""

    def __init__(self, tracer_provider: TracerProvider) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._tracer = trace.get_tracer(TRACER, tracer_provider=tracer_provider)
        self._propagator = TraceContextTextMapPropagator()
        self._consumer = trace.SpanKind.CONSUMER
        self._root = Context

    @contextmanager
    def handling(self, endpoint: str, envelope: Envelope) -> Iterator[Envelope]:
        attributes: dict[str, Any] = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": endpoint,
            "messaging.message.id": envelope.message_id,
            "sagabus.endpoint": endpoint,
            "sagabus.message.type": envelope.type,
        }
        if envelope.correlation_id:
            attributes["messaging.message.conversation_id"] = envelope.correlation_id
        if envelope.causation_id:
            attributes["sagabus.causation_id"] = envelope.causation_id
        with self._tracer.start_as_current_span(
            f"{endpoint} {envelope.type}",
            context=self._parent(envelope.traceparent),
            kind=self._consumer,
            attributes=attributes,
        ) as span:
            yield replace(envelope, traceparent=_format(span) or envelope.traceparent)

    @contextmanager
    def firing(self, saga: str, timer: str, traceparent: str | None) -> Iterator[str | None]:
        with self._tracer.start_as_current_span(
            f"{saga} timer {timer}",
            context=self._parent(traceparent),
            attributes={"sagabus.saga": saga, "sagabus.timer": timer},
        ) as span:
            yield _format(span) or traceparent

    def _parent(self, traceparent: str | None) -> Context:
        """The context of the remote parent span; an empty one (a new trace) when there
        is none, whatever span the pipeline's task happened to start in."""
        if not traceparent:
            return self._root()
        return self._propagator.extract({"traceparent": traceparent}, context=self._root())


def _format(span: Span) -> str | None:
    """The W3C traceparent of `span`, or None for an invalid (no-op) span."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
