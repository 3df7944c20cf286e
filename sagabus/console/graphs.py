"""The saga graph of `sagabus graph`, annotated for the console.

On the overview each state node carries how many instances stand in it; on an
instance page the states it went through are shaded, the arrows it took are drawn
thick, and the state it is in now is outlined. The drawing itself is
`saga_dsl.graph.mermaid`: this module only appends Mermaid `class` and `linkStyle`
lines and writes counts into node labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from saga_dsl.graph import mermaid
from saga_dsl.machine import Machine

STYLES = (
    "    classDef current fill:#fde68a,stroke:#b45309,stroke-width:3px",
    "    classDef visited fill:#dbeafe,stroke:#1d4ed8",
    "    classDef occupied fill:#dcfce7,stroke:#15803d,stroke-width:2px",
)
TAKEN = "stroke:#1d4ed8,stroke-width:3px"


def node(state: str) -> str:
    """The Mermaid node id `saga_dsl.graph` gives a state."""
    return f"s_{state}"


def census_graph(machine: Machine, counts: Mapping[str, int]) -> str:
    """The graph with `counts[state]` instances written on each state's node."""
    lines = mermaid(machine).rstrip("\n").split("\n")
    occupied = [state for state, count in counts.items() if count and state in machine.states]
    for index, line in enumerate(lines):
        for state in occupied:
            if line.startswith(f"    {node(state)}(") and '"' in line:
                cut = line.rindex('"')
                lines[index] = f"{line[:cut]}<br/>● {counts[state]}{line[cut:]}"
    lines.extend(STYLES)
    if occupied:
        lines.append(f"    class {','.join(node(s) for s in occupied)} occupied")
    return "\n".join(lines) + "\n"


def path_graph(machine: Machine, steps: Iterable[tuple[str | None, str]], current: str) -> str:
    """The graph with the instance's path: `steps` are its `(from_state, to_state)`
    moves, oldest first; `current` is the state it is in."""
    lines = mermaid(machine).rstrip("\n").split("\n")
    lines.extend(STYLES)
    taken: set[int] = set()
    visited: set[str] = set()
    for source, target in steps:
        visited.add(target)
        index = _edge_index(machine, source, target)
        if index is not None:
            taken.add(index)
    visited = {s for s in visited if s in machine.states and s != current}
    if visited:
        lines.append(f"    class {','.join(node(s) for s in sorted(visited))} visited")
    if current in machine.states:
        lines.append(f"    class {node(current)} current")
    if taken:
        lines.append(f"    linkStyle {','.join(str(i) for i in sorted(taken))} {TAKEN}")
    return "\n".join(lines) + "\n"


def _edge_index(machine: Machine, source: str | None, target: str) -> int | None:
    """The Mermaid link number of the arrow from `source` to `target`: link 0 is the
    start arrow, then the machine's transitions in order (an `any:` arrow matches any
    source)."""
    if source is None:
        return 0 if target == machine.initial else None
    fallback: int | None = None
    for index, edge in enumerate(machine.transitions, start=1):
        if edge.target != target:
            continue
        if edge.source == source:
            return index
        if edge.source is None and fallback is None:
            fallback = index
    return fallback
