"""States an instance can only leave through the saga's global `any:` transitions.

The graph checks accept such a state, since `any:` gives it a way out. In practice it is
a trap: a state with no transition of its own (a dead end), or a group of states whose
own transitions only lead round among themselves (a closed loop), holds the instance
until someone sends an `any:` event, usually a cancellation. Each state of the trap
gets a warning naming the loop; states that merely lead into a trap do not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from saga_dsl.diagnostics import Report
from saga_dsl.saga_definition import SagaDefinition


def report_traps(definition: SagaDefinition, report: Report) -> None:
    """Warns at every reachable state that only `any:` transitions lead out of."""
    if not definition.any_on:
        return  # without `any:` the graph checks report these as errors already
    states = definition.states
    own = {
        name: [t.goto for t in state.transitions()] if not state.final else []
        for name, state in states.items()
    }
    everywhere = sorted(definition.any_on)
    reachable = closure(
        [definition.initial], {n: [*own[n], *_any_targets(definition)] for n in states}
    )
    backward: dict[str, list[str]] = {name: [] for name in states}
    for name, targets in own.items():
        for target in targets:
            backward[target].append(name)
    finishing = closure([n for n, s in states.items() if s.final], backward)
    events = ", ".join(everywhere)
    for name, state in states.items():
        if state.final or name not in reachable or name in finishing:
            continue
        if not own[name]:
            report.warning(
                state.at,
                f"state {name!r} is a dead end but for `any:`: it has no transition of its "
                f"own, so an instance waits there until {events} comes",
            )
            continue
        loop = _cycle(name, own)
        if loop is None:
            continue  # it leads into a trap reported at the trap itself
        report.warning(
            state.at,
            f"state {name!r} reaches no final state but through `any:`: its own "
            f"transitions loop ({' -> '.join(loop)}), so an instance goes round "
            f"until {events} comes",
        )


def _any_targets(definition: SagaDefinition) -> list[str]:
    return [t.goto for options in definition.any_on.values() for t in options]


def _cycle(start: str, own: dict[str, list[str]]) -> list[str] | None:
    """The shortest round of own transitions from `start` back to it, if there is one."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in own[current]:
            if target == start:
                path = [start, current]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path[1:]), start] if current != start else [start, start]
            if target not in came_from:
                came_from[target] = current
                queue.append(target)
    return None


def closure(seeds: Iterable[str], edges: Mapping[str, Iterable[str]]) -> set[str]:
    """The states reached from `seeds` along `edges`, the seeds included."""
    seen = set(seeds)
    queue = deque(seen)
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen
