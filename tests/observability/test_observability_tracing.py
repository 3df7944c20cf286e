"""Tracing with the OpenTelemetry SDK's in-memory exporter: one order is one trace,
through every service and saga step that worked on it, timers included; without a
tracer provider nothing is traced and traceparents pass through unchanged."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from observability_support import (
    COMPLETED,
    SILENT_SHIPPER,
    finished,
    order_endpoints,
    order_saga,
    place,
)
from support.broker import TestBroker

from bus import BusClient, Command, Envelope, Event, HandlerContext, Service
from bus.observability.message_log import MessageLog
from bus.observability.tracing import Tracing, current_traceparent, tracing_observer
from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.runtime import Bus
from bus.wire.memory import InMemoryTransport


def sdk_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except ModuleNotFoundError:  # not even the API
        return False


needs_sdk = pytest.mark.skipif(
    not sdk_installed(),
    reason="opentelemetry-sdk is not installed (the dev extra brings it: pip install -e '.[dev]')",
)

SERVICES = {"orders", "payments", "inventory", "shipping", "notifications"}
SAGA_ENDPOINT = "saga.order_processing"


@pytest.fixture
def sdk() -> tuple[Any, Any]:
    """An SDK tracer provider and the in-memory exporter its spans go to."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.mark.integration
@needs_sdk
async def test_one_order_is_one_trace_through_every_service_and_timer(
    settings: Settings, store: Store, rabbitmq: TestBroker, tmp_path: Path,
    sdk: tuple[Any, Any], eventually,
) -> None:
    provider, spans = sdk
    tracer = provider.get_tracer("tests")
    # a silent shipper is sent ShipOrder again by retry timers, then given up on
    endpoints, runtime = order_endpoints(order_saga(tmp_path / "sagas",
                                                    waits={"shipping": "300ms"}))
    await runtime.pin(store)
    bus = Bus(settings, store, endpoints, background=[runtime.scheduler],
              observers=[Tracing(provider)])
    rabbitmq.track(bus.topology())
    roots = {}
    async with bus:
        for order_id, path in (("order-done", COMPLETED), ("order-silent", SILENT_SHIPPER)):
            with tracer.start_as_current_span(f"place {order_id}") as root:
                roots[order_id] = root.get_span_context().trace_id
                await place(settings, [(order_id, path)], [current_traceparent() or ""])
        await finished(store, 2, within=30)
        await eventually(
            lambda: {"notifications OrderCompleted", "notifications OrderCancelled"}
            <= {s.name for s in spans.get_finished_spans()},
            timeout=20, what="the last handlers of both orders traced",
        )

    traces: dict[int, list[Any]] = defaultdict(list)
    for span in spans.get_finished_spans():
        traces[span.context.trace_id].append(span)
    assert set(traces) == set(roots.values()), "every span belongs to one order's trace"
    for order_id, trace_id in roots.items():
        trace = traces[trace_id]
        by_id = {s.context.span_id: s for s in trace}
        [root] = [s for s in trace if s.parent is None]
        assert root.name == f"place {order_id}"
        for span in trace:  # one tree: every other span's parent is in the trace
            if span is not root:
                assert span.parent.span_id in by_id, f"{span.name}: parent outside the trace"
        endpoints_seen = {s.attributes.get("sagabus.endpoint") for s in trace}
        assert {*SERVICES, SAGA_ENDPOINT} <= endpoints_seen, (order_id, endpoints_seen)
        # a saga's command is a child of the saga step that sent it
        [charge] = [s for s in trace if s.name == "payments ProcessPayment"]
        assert by_id[charge.parent.span_id].name == f"{SAGA_ENDPOINT} OrderCreated"

    silent = traces[roots["order-silent"]]
    timers = {s.context.span_id: s for s in silent if s.attributes.get("sagabus.timer")}
    retries = [s for s in timers.values() if s.attributes["sagabus.timer"].startswith("retry:")]
    [timeout] = [s for s in timers.values() if s.attributes["sagabus.timer"].startswith("timeout:")]
    assert retries, "the shipper was asked again"
    # each resend is a child of the retry timer's step; the first ShipOrder is not
    ship = [s for s in silent if s.name == "shipping ShipOrder"]
    assert len(ship) == len(retries) + 1
    assert sorted(s.parent.span_id for s in ship if s.parent.span_id in timers) == sorted(
        s.context.span_id for s in retries
    )
    # the refund comes from the timeout's compensation: a child of the timeout's step
    [refund] = [s for s in silent if s.name == "payments RefundPayment"]
    assert refund.parent.span_id == timeout.context.span_id


traced = Service("ob_traced")
witness = Service("ob_witness")
WITNESSED: list[Envelope] = []


class ObTraceMe(Command):
    n: int


class ObTraced(Event):
    n: int


@traced.handles(ObTraceMe)
async def trace_me(cmd: ObTraceMe, ctx: HandlerContext) -> None:
    ctx.publish(ObTraced(n=cmd.n))


@witness.on(ObTraced)
async def see(event: ObTraced, ctx: HandlerContext) -> None:
    WITNESSED.append(ctx.message)


async def test_without_a_tracer_provider_nothing_is_traced_and_traceparent_passes_on(
    settings: Settings, store: Store, eventually
) -> None:
    assert tracing_observer() is None  # the API's default provider is a no-op
    transport = InMemoryTransport()
    bus = Bus(settings, store, [traced, witness], transport=transport)
    assert type(bus.observer) is MessageLog  # nothing but the debug line
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    WITNESSED.clear()
    async with bus, BusClient(settings, transport=InMemoryTransport(transport.broker)) as c:
        sent = await c.dispatch(Envelope.of(ObTraceMe(n=1), traceparent=traceparent))
        await eventually(lambda: WITNESSED, timeout=10, what="ObTraced handled")
    [seen] = WITNESSED
    assert seen.traceparent == traceparent
    assert seen.causation_id == sent.message_id


def test_without_opentelemetry_installed_tracing_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import bus.observability.tracing

    monkeypatch.setattr(bus.observability.tracing, "available", lambda: False)
    assert tracing_observer() is None
    assert current_traceparent() is None
