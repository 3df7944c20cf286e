"""Drawings of a saga's state graph: Mermaid flowcharts and Graphviz DOT.

Solid arrows are transitions, labelled with the event and its guard; timeouts are
labelled `after 10s`; transitions with `compensate: true` are dashed (they undo the
completed states on the way). `any:` transitions leave a box standing for "any
non-final state". Each state shows the commands it sends and how it is undone.
"""

from __future__ import annotations

from collections.abc import Callable

from saga_dsl.compiler import Edge
from saga_dsl.machine import Machine
from saga_dsl.saga_definition import StateDefinition

FORMATS = ("mermaid", "dot")
_ANY = "any state"


def render(machine: Machine, fmt: str) -> str:
    """The graph of `machine` in `fmt` (one of `FORMATS`)."""
    renderers: dict[str, Callable[[Machine], str]] = {"mermaid": mermaid, "dot": dot}
    if fmt not in renderers:
        raise ValueError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")
    return renderers[fmt](machine)


def mermaid(machine: Machine) -> str:
    """A Mermaid `flowchart` (state diagrams cannot draw dashed arrows)."""
    lines = ["flowchart LR", '    start_(("start"))']
    for state in machine.states.values():
        label = "<br/>".join(_mermaid_text(line) for line in _state_lines(state))
        shape = f'((("{label}")))' if state.final else f'(["{label}"])'
        lines.append(f"    {_node(state.name)}{shape}")
    if any(edge.source is None for edge in machine.transitions):
        lines.append(f'    any_[["{_ANY}"]]')
    lines.append(f'    start_ -->|"{_mermaid_text(machine.start_event)}"| {_node(machine.initial)}')
    for edge in machine.transitions:
        source = "any_" if edge.source is None else _node(edge.source)
        arrow = "-.->" if edge.compensate else "-->"
        label = _mermaid_text(_edge_label(edge))
        lines.append(f'    {source} {arrow}|"{label}"| {_node(edge.target)}')
    return "\n".join(lines) + "\n"


def dot(machine: Machine) -> str:
    """A Graphviz digraph."""
    lines = [
        f"digraph {_dot_text(machine.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        "    start_ [shape=point, width=0.2];",
    ]
    for state in machine.states.values():
        label = "\\n".join(_dot_escape(line) for line in _state_lines(state))
        shape = ", peripheries=2" if state.final else ""
        lines.append(f'    {_node(state.name)} [label="{label}"{shape}];')
    if any(edge.source is None for edge in machine.transitions):
        lines.append(f'    any_ [label="{_ANY}", shape=box, style=dotted];')
    lines.append(
        f'    start_ -> {_node(machine.initial)} [label="{_dot_escape(machine.start_event)}"];'
    )
    for edge in machine.transitions:
        source = "any_" if edge.source is None else _node(edge.source)
        style = ", style=dashed" if edge.compensate else ""
        label = _dot_escape(_edge_label(edge))
        lines.append(f'    {source} -> {_node(edge.target)} [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _state_lines(state: StateDefinition) -> list[str]:
    lines = [state.name if state.end is None else f"{state.name} ({state.end})"]
    lines.extend(f"{'send' if a.kind == 'command' else 'publish'} {a.type}" for a in state.entry)
    if state.retry is not None:
        lines.append(f"retry {state.retry.attempts}x")
    if state.compensation is not None:
        undo = ", ".join(a.type for a in state.compensation.actions)
        until = f" until {state.compensation.until}" if state.compensation.until else ""
        lines.append(f"undo: {undo}{until}")
    return lines


def _edge_label(edge: Edge) -> str:
    label = edge.label
    if edge.guard:
        label += f" [{edge.guard}]"
    if edge.compensate:
        label += " / compensate"
    return label


def _node(name: str) -> str:
    # A prefix keeps state names clear of each format's keywords (`end`, `graph`, ...).
    return f"s_{name}"


def _mermaid_text(text: str) -> str:
    replacements = {
        "#": "#35;",
        "&": "#amp;",
        '"': "#quot;",
        "<": "#lt;",
        ">": "#gt;",
        "|": "#124;",
    }
    return "".join(replacements.get(ch, ch) for ch in text)


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_text(name: str) -> str:
    return f'"{_dot_escape(name)}"'
