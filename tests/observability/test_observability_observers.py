"""Observers without a broker: facts reach them only when their transaction commits
(a handler that raised reports nothing but its failure), and several compose."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bus import Command, Envelope, HandlerContext, RetryPolicy, Service
from bus.observability.observe import (
    NO_OBSERVER,
    Facts,
    HandledOutcome,
    Observer,
    compose,
    current_observer,
    report,
)
from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.runtime import Bus
from bus.wire.memory import InMemoryTransport
from bus.wire.transport import Publication, WireMessage


class Recorder(Observer):
    """Writes down every hook call it overrides."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def handled(self, endpoint: str, envelope: Envelope, outcome: HandledOutcome) -> None:
        self.calls.append(("handled", envelope.type, outcome))

    def retried(self, endpoint: str, envelope: Envelope, attempt: int) -> None:
        self.calls.append(("retried", envelope.type, attempt))

    def saga_started(self, saga: str) -> None:
        self.calls.append(("started", saga))


def test_facts_reach_the_observer_once_committed_and_not_when_rolled_back() -> None:
    recorder = Recorder()
    facts = Facts(recorder)
    with facts.open():
        report(lambda o: o.saga_started("kept"))
        with pytest.raises(RuntimeError), facts.open():  # a savepoint that rolls back
            report(lambda o: o.saga_started("rolled back"))
            raise RuntimeError("handler failed")
        assert current_observer() is recorder
    assert recorder.calls == []  # not committed yet
    facts.commit()
    assert recorder.calls == [("started", "kept")]
    assert current_observer() is NO_OBSERVER
    report(lambda o: o.saga_started("outside a unit of work"))  # dropped, no error


def test_a_failing_observer_does_not_undo_what_committed() -> None:
    recorder = Recorder()
    facts = Facts(recorder)
    facts.add(lambda o: o.saga_started(str(1 / 0)))
    facts.add(lambda o: o.saga_started("after"))
    facts.commit()
    assert recorder.calls == [("started", "after")]


class Wrapping(Observer):
    def __init__(self, tag: str, log: list[str]) -> None:
        self.tag, self.log = tag, log

    @contextmanager
    def handling(self, endpoint: str, envelope: Envelope) -> Iterator[Envelope]:
        self.log.append(f"enter {self.tag}")
        yield Envelope(envelope.type, envelope.kind, {**envelope.payload, self.tag: True})
        self.log.append(f"exit {self.tag}")


def test_composed_observers_nest_in_order_and_skip_hooks_they_do_not_override() -> None:
    log: list[str] = []
    recorder = Recorder()
    observer = compose([Wrapping("outer", log), recorder, Wrapping("inner", log)])
    envelope = Envelope("ObAnything", "event", {})
    with observer.handling("ep", envelope) as seen:
        assert seen.payload == {"outer": True, "inner": True}
    assert log == ["enter outer", "enter inner", "exit inner", "exit outer"]
    observer.handled("ep", envelope, "success")
    observer.consumed("ep", envelope)  # nobody overrides it: nothing happens
    assert recorder.calls == [("handled", "ObAnything", "success")]
    assert compose([]) is NO_OBSERVER
    assert compose([recorder]) is recorder


class ObFlaky(Command):
    key: str


flaky = Service("ob_flaky", retry=RetryPolicy(attempts=3, delays=["50ms"]))
RUNS: dict[str, int] = {}


@flaky.handles(ObFlaky)
async def flaky_handler(cmd: ObFlaky, ctx: HandlerContext) -> None:
    RUNS[cmd.key] = RUNS.get(cmd.key, 0) + 1
    report(lambda o: o.saga_started(f"run {RUNS[cmd.key]}"))
    if RUNS[cmd.key] == 1:
        raise RuntimeError("first run fails")


async def test_a_handler_that_raised_reports_its_failure_and_none_of_its_facts(
    settings: Settings, store: Store, eventually
) -> None:
    recorder = Recorder()
    transport = InMemoryTransport()
    bus = Bus(settings, store, [flaky], transport=transport, observers=[recorder])
    async with bus:
        queue = bus.names.queue(flaky.name)
        await transport.publish(
            [Publication("", queue, WireMessage.of(Envelope.of(ObFlaky(key="k"))))]
        )
        await eventually(lambda: ("handled", "ObFlaky", "success") in recorder.calls,
                         timeout=10, what="the second run handled")
    assert recorder.calls == [
        ("handled", "ObFlaky", "failed"),
        ("retried", "ObFlaky", 1),
        ("started", "run 2"),  # run 1 rolled back: its fact with it
        ("handled", "ObFlaky", "success"),
    ]
