"""Skeleton scenarios for uncovered paths, found by a bounded walk of the saga's graph.

The walk follows transitions from the initial state, keeping which states were
completed and compensated (a `compensate: true` transition undoes the completed ones,
latest first, and the skeleton confirms each compensation that waits for its `until`).
It stops at `MAX_DEPTH` transitions. A skeleton's events carry empty payloads and a
comment naming the guard to satisfy: the author fills in the values.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from saga_dsl.machine import Machine
from saga_dsl.saga_definition import TransitionDefinition
from saga_dsl.scenarios.coverage import SagaPath

MAX_DEPTH = 12
"""Longest path (in transitions) the walk tries before it gives up on a target."""


@dataclass(frozen=True)
class _Node:
    state: str
    completed: tuple[str, ...]
    compensated: tuple[str, ...]
    steps: tuple[str, ...]


def skeletons(machine: Machine, missing: Iterable[SagaPath]) -> str:
    """YAML of a scenario file with one skeleton scenario per path in `missing`."""
    lines = [f"saga: {machine.name}", "scenarios:"]
    for path in missing:
        steps = _walk(machine, path)
        lines.append(f"  - name: {_quoted('TODO: ' + path.text)}")
        if steps is None:
            lines.append(f"    # no path of at most {MAX_DEPTH} transitions reaches it")
            lines.append("    steps: []")
            continue
        lines.append("    steps:")
        lines.append(f"      - event: {machine.start_event}")
        lines.append("        with: {}  # TODO: the start event's payload")
        lines.extend(steps)
    return "\n".join(lines) + "\n"


def _walk(machine: Machine, goal: SagaPath) -> list[str] | None:
    """The steps of the shortest walk that ends by taking `goal`, or None."""
    start = _Node(machine.initial, (), (), ())
    queue = deque([start])
    seen = {(start.state, start.completed, start.compensated)}
    while queue:
        node = queue.popleft()
        finish = _finish(machine, node, goal)
        if finish is not None:
            return [*node.steps, *finish]
        if len(node.steps) >= MAX_DEPTH * 2:
            continue
        for option in _ways_out(machine, node.state):
            after, steps = _take(machine, node, option)
            key = (after.state, after.completed, after.compensated)
            if key not in seen:
                seen.add(key)
                queue.append(
                    _Node(after.state, after.completed, after.compensated, (*node.steps, *steps))
                )
    return None


def _ways_out(machine: Machine, state: str) -> Iterator[TransitionDefinition]:
    definition = machine.states[state]
    if definition.final:
        return
    yield from definition.transitions()
    for options in machine.definition.any_on.values():
        yield from options


def _finish(machine: Machine, node: _Node, goal: SagaPath) -> list[str] | None:
    """The last steps when `goal` can be taken from `node`, else None."""
    if goal.kind in ("on", "any", "timeout"):
        if node.state != goal.state or goal.transition is None:
            return None
        return _take(machine, node, goal.transition)[1]
    if goal.kind == "retries":
        retry = machine.states[goal.state].retry
        if node.state != goal.state or retry is None:
            return None
        return [
            f"      - timer: retry  # resend {n} of {retry.attempts}"
            for n in range(1, retry.attempts + 1)
        ]
    for option in _ways_out(machine, node.state):
        if option.compensate and goal.state in _pending(machine, node):
            steps = _step(machine, option, waits=goal.kind == "gives up")
            if goal.kind == "compensation":
                return steps
            if _first_awaited(machine, node) == goal.state:
                return [
                    *steps,
                    "      - advance: 1d  # every resend of the compensation made",
                    "        expect: {status: parked}",
                ]
    return None


def _take(machine: Machine, node: _Node, option: TransitionDefinition) -> tuple[_Node, list[str]]:
    if not option.compensate:
        completed = (*node.completed, node.state)
        return _Node(option.goto, completed, node.compensated, ()), _step(machine, option)
    steps = _step(machine, option)
    pending = _pending(machine, node)
    for name in pending:
        compensation = machine.states[name].compensation
        if compensation is not None and compensation.until is not None:
            steps += [
                f"      - event: {compensation.until}",
                f"        with: {{}}  # confirms the compensation of {name}",
            ]
    compensated = (*node.compensated, *pending)
    return _Node(option.goto, node.completed, compensated, ()), steps


def _step(machine: Machine, option: TransitionDefinition, waits: bool = False) -> list[str]:
    if option.event is None:
        step = ["      - timer: timeout"]
    else:
        step = [f"      - event: {option.event}", f"        with: {{}}{_guards(machine, option)}"]
    if not waits:
        step.append(
            f"        expect: {{state: {option.goto}}}"
            if not option.compensate
            else "        # compensates, then goes to " + option.goto
        )
    return step


def _guards(machine: Machine, option: TransitionDefinition) -> str:
    """A comment saying which guards the payload must make true and false."""
    event = option.event or ""
    if option.source is None:
        siblings = machine.definition.any_on.get(event, ())
    else:
        siblings = machine.states[option.source].on.get(event, ())
    wanted = []
    for earlier in siblings:
        if earlier is option:
            break
        if earlier.guard is not None:
            wanted.append(f"`{earlier.guard.source.strip()}` false")
    if option.guard is not None:
        wanted.append(f"`{option.guard.source.strip()}` true")
    return f"  # TODO: make {' and '.join(wanted)}" if wanted else ""


def _pending(machine: Machine, node: _Node) -> list[str]:
    """What a compensating transition from `node` undoes, in order."""
    latest_first = list(dict.fromkeys(reversed(node.completed)))
    return [
        name
        for name in latest_first
        if name not in node.compensated and machine.states[name].compensation is not None
    ]


def _first_awaited(machine: Machine, node: _Node) -> str | None:
    for name in _pending(machine, node):
        compensation = machine.states[name].compensation
        if compensation is not None and compensation.until is not None:
            return name
    return None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
