"""Compiles a checked `SagaDefinition` into the transition table a `Machine` runs.

The table answers, in one dictionary lookup, "in state S, which transitions does event
E try, in order?": the state's own `on: E` options first, then those of `any: on: E`
(final states get none). It also lists every edge, for graphs, and every event type
the saga listens to, for binding its queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from bus.durations import format_duration
from saga_dsl.saga_definition import SagaDefinition, TransitionDefinition

EdgeKind = Literal["on", "any", "timeout"]


@dataclass(frozen=True)
class Edge:
    """One arrow of the state graph.

    `source` is None for `any:` edges (they leave every non-final state). `label` is
    the event type, or `after 10s` for a timeout; `guard` the `if:` source.
    """

    source: str | None
    target: str
    kind: EdgeKind
    label: str
    guard: str | None
    compensate: bool


@dataclass(frozen=True)
class Table:
    """The compiled saga: routes per state and event, edges, and what it listens to."""

    definition: SagaDefinition
    routes: Mapping[str, Mapping[str, tuple[TransitionDefinition, ...]]]
    edges: tuple[Edge, ...]
    listens_to: frozenset[str]


def build_table(definition: SagaDefinition) -> Table:
    """The transition table of `definition` (which must have passed the checks)."""
    routes: dict[str, Mapping[str, tuple[TransitionDefinition, ...]]] = {}
    for name, state in definition.states.items():
        if state.final:
            routes[name] = MappingProxyType({})
            continue
        merged = {event: tuple(options) for event, options in state.on.items()}
        for event, options in definition.any_on.items():
            merged[event] = merged.get(event, ()) + options
        routes[name] = MappingProxyType(merged)
    listens = {definition.start_event}
    listens.update(definition.any_on)
    for state in definition.states.values():
        listens.update(state.on)
        if state.compensation is not None and state.compensation.until is not None:
            listens.add(state.compensation.until)
    return Table(
        definition=definition,
        routes=MappingProxyType(routes),
        edges=tuple(_edges(definition)),
        listens_to=frozenset(listens),
    )


def _edges(definition: SagaDefinition) -> list[Edge]:
    edges: list[Edge] = []
    for state in definition.states.values():
        for options in state.on.values():
            edges.extend(_edge(t, "on") for t in options)
        if state.timeout is not None:
            edge = _edge(state.timeout.transition, "timeout")
            label = f"after {format_duration(state.timeout.after)}"
            edges.append(Edge(edge.source, edge.target, "timeout", label, None, edge.compensate))
    for options in definition.any_on.values():
        edges.extend(_edge(t, "any") for t in options)
    return edges


def _edge(transition: TransitionDefinition, kind: EdgeKind) -> Edge:
    guard = transition.guard.source.strip() if transition.guard is not None else None
    return Edge(
        source=transition.source,
        target=transition.goto,
        kind=kind,
        label=transition.event or "timeout",
        guard=guard,
        compensate=transition.compensate,
    )
