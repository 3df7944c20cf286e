"""Graphs of a saga: every state and edge, guards in labels, compensation dashed."""

from __future__ import annotations

import re

import pytest
from dsl_support import SHOWCASE, sagabus, started_by_go

from saga_dsl import Machine
from saga_dsl.graph import dot, mermaid, render


def test_mermaid_draws_every_state_and_edge(order_machine: Machine) -> None:
    text = mermaid(order_machine)
    assert text.startswith("flowchart LR\n")
    for name in order_machine.states:
        assert f"s_{name}" in text
    arrows = re.findall(r"^    \S+ (-->|-\.->)\|", text, flags=re.MULTILINE)
    assert len(arrows) == len(order_machine.transitions) + 1


def test_mermaid_labels_guards_timeouts_and_dashes_compensation(order_machine: Machine) -> None:
    text = mermaid(order_machine)
    assert (
        's_awaiting_payment -->|"PaymentSucceeded [event.amount #gt; 10000]"| s_manual_review'
        in text
    )
    assert 's_shipping -.->|"after 6s / compensate"| s_cancelled' in text
    assert 'any_ -.->|"OrderCancellationRequested / compensate"| s_cancelled' in text
    assert "undo: RefundPayment until PaymentRefunded" in text


def test_dot_uses_dashed_edges_for_compensation(order_machine: Machine) -> None:
    text = dot(order_machine)
    assert text.startswith('digraph "order_processing" {')
    assert 's_shipping -> s_cancelled [label="after 6s / compensate", style=dashed];' in text
    assert 's_shipping -> s_completed [label="OrderShipped"];' in text
    assert text.count("peripheries=2") == 2


def test_labels_are_escaped_for_each_format() -> None:
    machine = started_by_go(
        """\
  a:
    on:
      Go:
        - if: 'event.s == "a|b" && event.n < 2'
          goto: end
        - goto: end
  end: {end: success}
"""
    )
    assert "#quot;a#124;b#quot; #amp;#amp; event.n #lt; 2" in mermaid(machine)
    assert 'event.s == \\"a|b\\" && event.n < 2' in dot(machine)
    assert "s_end" in mermaid(machine)


def test_unknown_format_is_refused(order_machine: Machine) -> None:
    with pytest.raises(ValueError, match="unknown graph format 'svg'"):
        render(order_machine, "svg")


def test_graph_command_prints_the_drawing() -> None:
    outcome = sagabus("graph", str(SHOWCASE), "--format", "dot", "--contracts", "")
    assert outcome.exit_code == 0
    assert outcome.output.startswith('digraph "order_processing"')


def test_graph_command_refuses_a_broken_file_with_its_diagnostics(tmp_path: object) -> None:
    outcome = sagabus("graph", "/nonexistent/saga.yaml")
    assert outcome.exit_code == 1
    assert "/nonexistent/saga.yaml:1:1: error: cannot read the file" in outcome.output
    assert sagabus("graph", str(SHOWCASE), "--format", "png").exit_code == 1
