"""The arrows of the order saga a test must take: each step of an instance named as
(from, trigger, to), and every such arrow the compiled machine has (imported by name:
tests/dsl is on sys.path)."""

from __future__ import annotations

from saga_dsl import EventInput, Input, Machine, SagaInstance

Arrow = tuple[str, str, str]


def trigger_of(given: Input) -> str:
    """An event's type, or a timer's kind (`retry`, `timeout`, `compensate`)."""
    return given.type if isinstance(given, EventInput) else given.name.split(":")[0]


def arrow(before: SagaInstance, given: Input, after: SagaInstance) -> Arrow:
    """(from, trigger, to) of an accepted step: while compensating `from` is
    `undo <state>`; `to` is the state entered, the target of a compensation run,
    `resend`, or `parked`."""
    if after.status == "parked":
        to = "parked"
    elif after.compensating is not None and before.compensating is not None:
        to = "resend"
    else:
        to = after.compensating.target if after.compensating is not None else after.state
    waiting = before.compensating.waiting if before.compensating is not None else None
    return (f"undo {waiting}" if waiting else before.state, trigger_of(given), to)


def all_arrows(machine: Machine) -> set[Arrow]:
    """Every (state, trigger, goto) of the saga, `any:` ones from every running state,
    and for each compensation that waits: confirmed (into each goto), resent, parked."""
    arrows: set[Arrow] = set()
    gotos: set[str] = set()
    for name, state in machine.states.items():
        if state.end is not None:
            continue
        for event_type, transitions in machine.routes(name).items():
            arrows |= {(name, event_type, t.goto) for t in transitions}
            gotos |= {t.goto for t in transitions if t.compensate}
        if state.retry is not None:
            arrows.add((name, "retry", name))
        if state.timeout is not None:
            arrows.add((name, "timeout", state.timeout.transition.goto))
            if state.timeout.transition.compensate:
                gotos.add(state.timeout.transition.goto)
    for name, state in machine.states.items():
        if state.compensation is not None and state.compensation.until is not None:
            undo = f"undo {name}"
            arrows |= {(undo, state.compensation.until, goto) for goto in gotos}
            arrows |= {(undo, "compensate", "resend"), (undo, "compensate", "parked")}
    return arrows
