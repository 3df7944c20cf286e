"""One step of a scenario checked against its saga: the input makes sense, the names exist.

A step that cannot run (an event the saga does not listen to, a state it lacks, a
fixture not defined) is reported at its position while loading, not found when running.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saga_dsl.diagnostics import Report, suggest
from saga_dsl.machine import Machine
from saga_dsl.positioned_yaml import Document, Loc
from saga_dsl.scenarios.model import Expect, Step
from saga_dsl.scenarios.suite import StepKind, StepSpec

INPUTS: tuple[StepKind, ...] = ("event", "timer", "advance", "fault")
TIMER_KINDS = ("timeout", "retry", "compensate")


def build_step(
    doc: Document,
    report: Report,
    loc: Loc,
    step: Step,
    fixtures: Mapping[str, Mapping[str, Any]],
    machine: Machine,
) -> StepSpec:
    """The runnable step at `loc` (`step` as validated); problems go to `report`."""
    number = int(loc[-1]) + 1
    given = [kind for kind in INPUTS if getattr(step, kind) is not None]
    kind: StepKind = given[0] if given else "event"
    if len(given) != 1:
        which = " and ".join(given) if given else "none of them"
        report.error(
            doc.at(loc),
            f"step {number}: a step is one of event, timer, advance or fault; this one has {which}",
        )
    _check_input(doc, report, loc, step, kind, fixtures, machine)
    if step.expect is not None:
        _check_expect(doc, report, (*loc, "expect"), step.expect, machine)
    payload = {**fixtures.get(step.fixture or "", {}), **(step.with_ or {})}
    keys = step.expect.model_fields_set if step.expect is not None else set()
    expect_at = {_alias(key): doc.at((*loc, "expect", _alias(key))) for key in keys}
    return StepSpec(
        number=number,
        kind=kind,
        at=doc.at(loc),
        event=step.event,
        payload=payload,
        timer=step.timer,
        advance=step.advance,
        fault=step.fault,
        expect=step.expect,
        expect_at=expect_at,
    )


def _alias(field: str) -> str:
    return Expect.model_fields[field].alias or field


def _check_input(
    doc: Document,
    report: Report,
    loc: Loc,
    step: Step,
    kind: StepKind,
    fixtures: Mapping[str, Mapping[str, Any]],
    machine: Machine,
) -> None:
    first = loc[-1] == 0
    if first and step.event != machine.start_event:
        report.error(
            doc.at(loc),
            f"the first step starts the saga: `event: {machine.start_event}` "
            f"(saga {machine.name} starts on it)",
        )
    if step.event is not None and step.event not in machine.listens_to:
        report.error(
            doc.at((*loc, "event")),
            f"saga {machine.name} does not listen to {step.event}"
            f"{suggest(step.event, machine.listens_to)}",
        )
    if kind != "event" and (step.fixture is not None or step.with_ is not None):
        report.error(doc.at(loc), "`fixture` and `with` give an event's payload; no event here")
    if step.fixture is not None and step.fixture not in fixtures:
        report.error(
            doc.at((*loc, "fixture")),
            f"no fixture {step.fixture!r}{suggest(step.fixture, fixtures)}",
        )
    timer = step.timer
    if timer is not None and timer not in TIMER_KINDS and ":" not in timer:
        report.error(
            doc.at((*loc, "timer")),
            f"timer {timer!r}: write timeout, retry, compensate or a timer's full name "
            f"(such as timeout:shipping:4){suggest(timer, TIMER_KINDS)}",
        )


def _check_expect(
    doc: Document, report: Report, loc: Loc, expect: Expect, machine: Machine
) -> None:
    states = machine.states
    if expect.state is not None and expect.state not in states:
        report.error(
            doc.at((*loc, "state")),
            f"saga {machine.name} has no state {expect.state!r}{suggest(expect.state, states)}",
        )
    undoable = [name for name, state in states.items() if state.compensation is not None]
    for index, name in enumerate(expect.compensated or ()):
        if name not in undoable:
            report.error(
                doc.at((*loc, "compensated", index)),
                f"state {name!r} has no compensation in saga {machine.name} "
                f"(these have: {', '.join(undoable) or 'none'}){suggest(name, undoable)}",
            )
