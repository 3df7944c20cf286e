"""`validate` warns at states that only the global `any:` transitions lead out of."""

from __future__ import annotations

import textwrap

from scenario_support import order_saga

import saga_dsl

HEAD = order_saga(
    "trap",
    """\
any:
  on:
    OrderCancellationRequested: {goto: cancelled}
states:
""",
)


def _warnings(states: str) -> list[str]:
    result = saga_dsl.load(HEAD + textwrap.indent(textwrap.dedent(states), "  "), name="t.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    return [str(d) for d in result.warnings]


def test_a_state_with_no_transition_of_its_own_is_a_dead_end() -> None:
    assert _warnings("""\
        waiting: {on: {PaymentSucceeded: {goto: stuck}}}
        stuck:
          send: {command: ShipOrder, with: {order_id: "${ saga.order_id }"}}
        cancelled: {end: failure}
    """) == [
        "t.yaml:10:3: warning: state 'stuck' is a dead end but for `any:`: it has no "
        "transition of its own, so an instance waits there until OrderCancellationRequested "
        "comes"
    ]


def test_states_that_only_lead_to_each_other_are_a_closed_loop_and_the_way_in_is_not() -> None:
    assert _warnings("""\
        waiting:
          on:
            PaymentSucceeded: {goto: ping}
        ping:
          on:
            InventoryReserved: {goto: pong}
        pong:
          timeout: {after: 10s, goto: ping}
        cancelled: {end: failure}
    """) == [
        "t.yaml:12:3: warning: state 'ping' reaches no final state but through `any:`: its own "
        "transitions loop (ping -> pong -> ping), so an instance goes round until "
        "OrderCancellationRequested comes",
        "t.yaml:15:3: warning: state 'pong' reaches no final state but through `any:`: its own "
        "transitions loop (pong -> ping -> pong), so an instance goes round until "
        "OrderCancellationRequested comes",
    ]


def test_a_state_with_its_own_way_to_an_end_is_not_a_trap() -> None:
    assert (
        _warnings("""\
        waiting:
          on:
            PaymentSucceeded: {goto: done}
          timeout: {after: 10s, goto: waiting}
        done: {end: success}
        cancelled: {end: failure}
    """)
        == []
    )


def test_the_order_saga_has_no_trap() -> None:
    from scenario_support import SHOWCASE

    assert saga_dsl.load(SHOWCASE).diagnostics == []
