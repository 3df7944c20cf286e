"""The Python blocks of README.md and docs/operations.md run as tests: each block runs
(top-level `await` allowed) with the names its page takes as given (`settings`, `store`,
`endpoints`, `client`, `command`: a harness's, a service of the test's own), and the test
checks what the block promises. A page that gains a block fails here until it is run."""

from __future__ import annotations

import ast
import re
import types
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import bus.wire.contracts as contracts_module
from bus import Bus, Command, HandlerContext, Service
from bus.observability.metrics import Metrics
from bus.observability.observe import Observers
from bus.observability.sampler import Sampler
from bus.observability.tracing import Tracing
from bus.testing import BusHarness
from bus.wire.contracts import Registry

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
OPERATIONS = REPO / "docs" / "operations.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


async def run_block(page: Path, number: int, given: dict[str, Any]) -> dict[str, Any]:
    """Runs block `number` (from 1) of `page` in a namespace holding `given`."""
    source = blocks(page)[number - 1]
    code = compile(source, f"{page.name} block {number}", "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": f"doc_{page.stem}_{number}", **given}
    outcome = types.FunctionType(code, namespace)()
    if outcome is not None:  # a block with `await` runs as a coroutine
        await outcome
    return namespace


@pytest.fixture
def contracts(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A registry of the test's own: the blocks define contracts whose names the example
    services use too (ProcessPayment, ...)."""
    fresh = Registry()
    monkeypatch.setattr(contracts_module, "registry", fresh)
    return fresh


def test_every_python_block_of_the_pages_is_run_here() -> None:
    assert (len(blocks(README)), len(blocks(OPERATIONS))) == (1, 2)


async def test_the_readme_service_charges_once_and_publishes(contracts: Registry) -> None:
    readme = await run_block(README, 1, {})
    async with BusHarness(services=[readme["payments"]], contracts=contracts) as h:
        await h.send(readme["ProcessPayment"](order_id="o-1", amount=12.5))
        await h.wait_idle()
        assert [e.type for e in h.published] == ["PaymentSucceeded"]
        assert h.published[0].payload == {"order_id": "o-1", "payment_id": "p-1", "amount": 12.5}
        assert await h.state("charges", "o-1") == {"amount": 12.5}


class Ping(Command):
    __message_type__ = "DocPing"
    n: int


@pytest.fixture
async def harness(contracts: Registry) -> AsyncIterator[BusHarness]:
    contracts.register(Ping)
    pings = Service("pings")

    @pings.handles(Ping)
    async def ping(cmd: Ping, ctx: HandlerContext) -> None:
        return None

    async with BusHarness(services=[pings], contracts=contracts) as h:
        yield h


def given(h: BusHarness) -> dict[str, Any]:
    return {"settings": h.settings, "store": h.store, "endpoints": [], "client": h.client,
            "command": Ping(n=1)}


async def test_tracing_a_bus_and_continuing_a_trace_from_outside(harness: BusHarness) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    caller = TracerProvider()
    with caller.get_tracer("doc-test").start_as_current_span(f"caller-{uuid.uuid4()}") as span:
        page = await run_block(OPERATIONS, 1, given(harness))
    await harness.wait_idle()
    page["provider"].shutdown()
    assert isinstance(page["bus"], Bus)
    observers = page["bus"].observer
    assert isinstance(observers, Observers)
    assert [type(o) for o in observers.observers][1:] == [Tracing]
    [sent] = harness.consumed_by("pings")
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert sent.traceparent is not None and sent.traceparent.split("-")[1] == trace_id


async def test_an_observer_of_ones_own_beside_the_metrics(harness: BusHarness) -> None:
    page = await run_block(OPERATIONS, 2, given(harness))
    bus = page["bus"]
    assert isinstance(bus, Bus)
    assert isinstance(bus.observer, Observers)
    mine = [type(o).__name__ for o in bus.observer.observers][1:]
    assert mine == ["Metrics", "SlowHandlers"]
    assert isinstance(page["metrics"], Metrics)
    assert "handled" in vars(page["SlowHandlers"])  # overrides the one hook it needs
    [sampler] = bus._background
    assert isinstance(sampler, Sampler) and sampler.metrics is page["metrics"]
