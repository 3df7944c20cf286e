"""Static checks of a saga definition, each reported at its position.

Graph checks: `goto` and `initial` name real states; final states have no way out;
every state is reachable from `initial`, has a way out, and can still reach a final
state; `compensate: true` has something to undo. Data checks: every `saga.x` read is
set somewhere (an error) and on every path to the read (a warning otherwise). With
message contracts: types exist and are of the right kind, payloads name real fields,
and `event.x` reads fields of the event in scope.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator

from bus.unitofwork.faults import COMMAND_FAULTED
from bus.wire.contracts import Registry
from saga_dsl.diagnostics import Position, Report, suggest
from saga_dsl.expressions import Expression, Reference
from saga_dsl.saga_definition import (
    Action,
    SagaDefinition,
    StateDefinition,
    TransitionDefinition,
)
from saga_dsl.traps import closure as _closure
from saga_dsl.traps import report_traps


def run(definition: SagaDefinition, report: Report, registry: Registry | None = None) -> None:
    """Runs every check; problems go to `report`."""
    written = _never_set(definition, report)
    _final_states_are_final(definition, report)
    _unguarded_shadowing(definition, report)
    _retries_have_commands(definition, report)
    _macros_over_data(definition, report)
    if registry is not None and registry.names():
        _contracts(definition, report, registry)
    if _targets_exist(definition, report):
        _graph(definition, report)
        report_traps(definition, report)
        _compensations_possible(definition, report)
        _maybe_unset(definition, report, written)


def successors(definition: SagaDefinition, state: StateDefinition) -> list[TransitionDefinition]:
    """Every edge that can leave `state`: its own, its timeout, and `any:` ones."""
    if state.final:
        return []
    edges = list(state.transitions())
    for options in definition.any_on.values():
        edges.extend(options)
    return edges


def _targets_exist(definition: SagaDefinition, report: Report) -> bool:
    names = list(definition.states)
    ok = True
    if definition.initial not in definition.states:
        initial = definition.initial
        report.error(
            definition.initial_at,
            f"initial state {initial!r} is not defined{suggest(initial, names)}",
        )
        ok = False
    for transition in definition.transitions():
        if transition.goto not in definition.states:
            report.error(
                transition.goto_at,
                f"goto {transition.goto!r}: no such state{suggest(transition.goto, names)}",
            )
            ok = False
    return ok


def _final_states_are_final(definition: SagaDefinition, report: Report) -> None:
    if not any(s.final for s in definition.states.values()):
        report.error(
            definition.states_at,
            "no final state: mark at least one state with `end: success` or `end: failure`",
        )
    for state in definition.states.values():
        if not state.final:
            continue
        for key in ("on", "retry", "timeout", "compensate"):
            if key in state.keys:
                report.error(
                    state.keys[key],
                    f"final state {state.name!r} cannot have `{key}`: final states accept nothing",
                )


def _graph(definition: SagaDefinition, report: Report) -> None:
    states = definition.states
    forward: dict[str, set[str]] = {
        name: {t.goto for t in successors(definition, s)} for name, s in states.items()
    }
    reachable = _closure([definition.initial], forward)
    backward: dict[str, set[str]] = {name: set() for name in states}
    for name, targets in forward.items():
        for target in targets:
            backward[target].add(name)
    finals = [name for name, s in states.items() if s.final]
    leads_to_final = _closure(finals, backward)
    for name, state in states.items():
        if name not in reachable:
            report.error(
                state.at,
                f"state {name!r} is unreachable from the initial state {definition.initial!r}",
            )
        elif not state.final and not forward[name]:
            report.error(
                state.at,
                f"state {name!r} is a dead end: it is not final (`end:`) and has no "
                "`on`, `timeout` or `any:` transition",
            )
        elif finals and name not in leads_to_final:
            report.error(
                state.at, f"no final state can be reached from state {name!r}: it loops forever"
            )


def _unguarded_shadowing(definition: SagaDefinition, report: Report) -> None:
    blocks = [options for s in definition.states.values() for options in s.on.values()]
    blocks.extend(definition.any_on.values())
    for options in blocks:
        for earlier, later in itertools.pairwise(options):
            if earlier.guard is None:
                report.warning(
                    later.at,
                    f"this {later.event} transition never runs: the one before it has no `if`",
                )
                break


def _compensations_possible(definition: SagaDefinition, report: Report) -> None:
    """`compensate: true` needs a state with `compensate:` that may have completed."""
    edges = _all_edges(definition)
    before: dict[str, set[str]] = {name: set() for name in definition.states}
    for name in _closure([definition.initial], edges):
        state = definition.states[name]
        if state.compensation is None:
            continue
        completing = {t.goto for t in successors(definition, state) if not t.compensate}
        for reached in _closure(completing, edges):
            before[reached].add(name)
    for state in definition.states.values():
        for transition in state.transitions():
            if transition.compensate and not before[state.name]:
                report.error(
                    transition.compensate_at,
                    f"compensate: true, but no state with a `compensate:` action can have "
                    f"completed before {state.name!r}: there is nothing to undo",
                )
    for options in definition.any_on.values():
        for transition in options:
            if transition.compensate and not any(before.values()):
                report.error(
                    transition.compensate_at,
                    "compensate: true, but no state has a `compensate:` action: there is "
                    "nothing to undo",
                )


def _all_edges(definition: SagaDefinition) -> dict[str, set[str]]:
    return {
        name: {t.goto for t in successors(definition, s)} for name, s in definition.states.items()
    }


def _never_set(definition: SagaDefinition, report: Report) -> set[str]:
    """Reports `saga.x` reads that no `set:` writes; returns the names written."""
    written = {a.name for a in definition.start_assignments}
    for transition in definition.transitions():
        written.update(a.name for a in transition.assignments)
    for use in definition.expressions:
        for reference, name in _unknown(use.expression, "saga", written):
            report.error(
                reference.at,
                f"saga.{name} is read but never set (no `set:` writes it)"
                f"{suggest(name, written)}",
            )
    return written


def _unknown(
    expression: Expression, root: str, known: Collection[str]
) -> Iterator[tuple[Reference, str]]:
    """The reads `root.name` of `expression` whose name is not in `known`, with the name."""
    for reference in expression.references:
        if reference.root == root and reference.name and reference.name not in known:
            yield reference, reference.name


def _maybe_unset(definition: SagaDefinition, report: Report, written: set[str]) -> None:
    """Warns where a `saga.x` read can run before any `set` on the way wrote x.

    A forward "definitely set" analysis over the state graph: what is set on entering
    a state is what every way in has set. A compensation runs after its state completed
    towards a state that is not final (after a final state nothing is undone).
    """
    states = definition.states
    start = frozenset(a.name for a in definition.start_assignments)
    entry: dict[str, frozenset[str]] = {name: frozenset(written) for name in states}
    entry[definition.initial] = start
    changed = True
    while changed:
        changed = False
        incoming: dict[str, frozenset[str]] = {}
        incoming[definition.initial] = start
        for name, state in states.items():
            for transition in successors(definition, state):
                after = entry[name] | {a.name for a in transition.assignments}
                known = incoming.get(transition.goto)
                incoming[transition.goto] = after if known is None else known & after
        for name in states:
            new = incoming.get(name, frozenset(written))
            if new != entry[name]:
                entry[name] = new
                changed = True
    for name, state in states.items():
        known = entry[name]
        for action in state.entry:
            _warn_reads(report, action.payload.expressions(), known, written, f"entering {name!r}")
        for transition in state.transitions():
            _warn_reads(report, _read_by(transition), known, written, f"in state {name!r}")
        if state.compensation is not None:
            leaving = [
                known | {a.name for a in t.assignments}
                for t in successors(definition, state)
                if not t.compensate and not states[t.goto].final
            ]
            when_completed = frozenset.intersection(*leaving) if leaving else known
            for action in state.compensation.actions:
                expressions = list(action.payload.expressions())
                _warn_reads(report, expressions, when_completed, written, f"undoing {name!r}")
    everywhere = [entry[name] for name, state in states.items() if not state.final]
    known_anywhere = frozenset.intersection(*everywhere) if everywhere else frozenset()
    for options in definition.any_on.values():
        for transition in options:
            _warn_reads(report, _read_by(transition), known_anywhere, written, "in `any:`")


def _read_by(transition: TransitionDefinition) -> list[Expression]:
    guard = [transition.guard] if transition.guard else []
    return [*guard, *(e for a in transition.assignments for e in a.value.expressions())]


def _warn_reads(
    report: Report,
    expressions: Iterable[Expression],
    known: frozenset[str],
    written: set[str],
    where: str,
) -> None:
    for expression in expressions:
        for reference in expression.references:
            name = reference.name
            if reference.root == "saga" and name and name in written and name not in known:
                report.warning(
                    reference.at,
                    f"saga.{name} may be unset when {where}: not every path here sets it",
                )


def _macros_over_data(definition: SagaDefinition, report: Report) -> None:
    """Warns of a macro whose body reads saga or event data besides its own variable:
    it reads that data once per element, so the work is the product of both sizes."""
    for use in definition.expressions:
        for macro in use.expression.macros:
            data = sorted({f"{root}.{name}" if name else root
                           for root, name in macro.body_reads if root != "now"})
            if data:
                report.warning(
                    use.expression.at,
                    f"{macro.name} reads {', '.join(data)} for every element of its list: "
                    "the work grows with the product of their sizes (an evaluation over "
                    "its cost budget is refused)",
                )


def _retries_have_commands(definition: SagaDefinition, report: Report) -> None:
    for state in definition.states.values():
        if state.retry is not None and not any(a.kind == "command" for a in state.entry):
            report.warning(
                state.keys.get("retry", state.at),
                f"state {state.name!r} has `retry` but sends no command to resend",
            )


def _contracts(definition: SagaDefinition, report: Report, registry: Registry) -> None:
    events = [n for n in registry.names() if registry.get(n).__kind__ == "event"]
    commands = [n for n in registry.names() if registry.get(n).__kind__ == "command"]

    def is_event(name: str, at: Position, what: str) -> bool:
        if name in registry and registry.get(name).__kind__ == "event":
            return True
        if name in registry:
            report.error(at, f"{what} {name!r} is a command, not an event")
        else:
            report.error(at, f"{what} {name!r} is not a known event type{suggest(name, events)}")
        return False

    is_event(definition.start_event, definition.start_at, "start event")
    start_ok = definition.start_event in registry
    if definition.correlate and start_ok:
        fields = registry.fields(definition.start_event)
        if definition.correlate not in fields:
            report.error(
                definition.correlate_at,
                f"correlate: {definition.start_event} has no field {definition.correlate!r}"
                f"{suggest(definition.correlate, fields)}",
            )
    for state in definition.states.values():
        for action in state.entry:
            _action(report, registry, action, events, commands)
        for event, options in state.on.items():
            if options and is_event(event, options[0].at, "event"):
                _correlated(definition, report, registry, event, options[0].at)
        if state.compensation is not None:
            for action in state.compensation.actions:
                _action(report, registry, action, events, commands)
            until = state.compensation.until
            if until is not None and is_event(until, state.compensation.until_at, "until"):
                _correlated(definition, report, registry, until, state.compensation.until_at)
    for event, options in definition.any_on.items():
        if options:
            is_event(event, options[0].at, "event")
    for use in definition.expressions:
        if use.event is None or use.event not in registry:
            continue
        fields = registry.fields(use.event)
        for reference, name in _unknown(use.expression, "event", fields):
            report.error(
                reference.at,
                f"event.{name}: {use.event} has no field {name!r}{suggest(name, fields)}",
            )


def _action(
    report: Report, registry: Registry, action: Action, events: list[str], commands: list[str]
) -> None:
    wanted = "event" if action.kind == "event" else "command"
    if action.type not in registry:
        names = events if wanted == "event" else commands
        report.error(
            action.at,
            f"{action.type!r} is not a known {wanted} type{suggest(action.type, names)}",
        )
        return
    contract = registry.get(action.type)
    if contract.__kind__ != wanted:
        report.error(action.at, f"{action.type!r} is {_a(contract.__kind__)}, not {_a(wanted)}")
        return
    fields = contract.model_fields
    for key, at in action.fields.items():
        if key not in fields:
            report.error(at, f"{action.type} has no field {key!r}{suggest(key, fields)}")
    missing = [n for n, f in fields.items() if f.is_required() and n not in action.fields]
    if missing:
        report.error(
            action.at,
            f"{action.type} needs {', '.join(repr(m) for m in missing)} in `with:`",
        )


def _correlated(
    definition: SagaDefinition, report: Report, registry: Registry, event: str, at: Position
) -> None:
    if event == COMMAND_FAULTED:
        return  # the bus always correlates a fault event with the instance's id
    if definition.correlate and definition.correlate not in registry.fields(event):
        report.warning(
            at,
            f"{event} has no field {definition.correlate!r}: it finds its instance only "
            "through the message's correlation_id",
        )


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
