"""Scenarios run on the pure machine: expectations hold or fail with a clear difference."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_support import ORDER, order_saga, write

from saga_dsl.scenarios import explain, load, run_case


def _run(folder: Path, body: str) -> list[str]:
    """Loads and runs one scenario file; the explanation lines of each failure."""
    path = write(folder, "s.yaml", body)
    loaded = load(path)
    assert loaded.suite is not None, [str(d) for d in loaded.diagnostics]
    lines: list[str] = []
    for case in loaded.suite.cases:
        result = run_case(loaded.suite.machine, case)
        if result.failure is not None:
            lines.extend(explain(result.failure, "s.yaml"))
    return lines


PASSING = {
    "a right story passes": f"""
        - name: paid
          steps:
            - event: OrderCreated
              with: {ORDER}
              expect: {{state: awaiting_payment, sent: [ProcessPayment]}}
            - event: PaymentSucceeded
              with: {{payment_id: p-1, amount: 25.0}}
              expect: {{state: reserving_inventory, data: {{payment_id: p-1}}}}
    """,
    "advance fires due timers in order and no more": f"""
        - name: resends
          steps:
            - event: OrderCreated
              with: {ORDER}
            - advance: 1999ms
              expect: {{sent: [], accepted: false}}
            - advance: 1ms
              expect: {{sent: [ProcessPayment]}}
            - advance: 8s
              expect: {{state: voiding_payment, sent: [ProcessPayment, RefundPayment]}}
    """,
    "a parked instance reports its reason": """
        - name: a start event without the fields the saga reads
          steps:
            - event: OrderCreated
              with: {order_id: o-1}
              expect: {status: parked, reason: customer_id}
    """,
    "a reload keeps the instance and stale timers are ignored": f"""
        - name: faults
          steps:
            - event: OrderCreated
              with: {ORDER}
            - timer: timeout
              expect: {{state: voiding_payment}}
            - fault: stale-timers
              expect: {{accepted: false, sent: [], state: voiding_payment}}
            - fault: reload
              expect: {{state: voiding_payment, data: {{payment_id: void}}}}
            - fault: duplicate
              expect: {{accepted: false}}
    """,
}


@pytest.mark.parametrize("body", PASSING.values(), ids=PASSING.keys())
def test_a_story_that_holds_passes(tmp_path: Path, body: str) -> None:
    assert _run(tmp_path, body) == []


FAILING = {
    "a wrong state names the line and both states": (
        f"""
        - name: paid
          steps:
            - event: OrderCreated
              with: {ORDER}
            - event: PaymentSucceeded
              with: {{payment_id: p-1, amount: 25.0}}
              expect: {{state: manual_review}}
    """,
        [
            "s.yaml:9:25: step 2 (event PaymentSucceeded): state differs",
            '  expected: "manual_review"',
            '  actual:   "reserving_inventory"',
        ],
    ),
    "a wrong payload shows what was sent": (
        f"""
        - name: paid
          steps:
            - event: OrderCreated
              with: {ORDER}
              expect:
                sent: [{{command: ProcessPayment, with: {{amount: 30}}}}]
    """,
        [
            "s.yaml:8:17: step 1 (event OrderCreated): sent differs",
            '  expected: [{"ProcessPayment": {"amount": 30}}]',
            '  actual:   [{"ProcessPayment": {"order_id": "o-1", "amount": 25.0}}]',
        ],
    ),
    "firing a timer that is not armed fails the step": (
        f"""
        - name: no compensation yet
          steps:
            - event: OrderCreated
              with: {ORDER}
            - timer: compensate
    """,
        [
            "s.yaml:7:9: step 2 (timer compensate): no armed timer matches 'compensate' "
            "(armed: retry:awaiting_payment:1:1, timeout:awaiting_payment:1)"
        ],
    ),
    "each case of a table runs with its values": (
        f"""
        - name: amount ${{ amount }}
          cases:
            - {{amount: 5, state: reserving_inventory}}
            - {{amount: 50000, state: reserving_inventory}}
          steps:
            - event: OrderCreated
              with: {ORDER}
            - event: PaymentSucceeded
              with: {{payment_id: p, amount: "${{ amount }}"}}
              expect: {{state: "${{ state }}"}}
    """,
        [
            "s.yaml:12:25: step 2 (event PaymentSucceeded): state differs",
            '  expected: "reserving_inventory"',
            '  actual:   "manual_review"',
        ],
    ),
}


@pytest.mark.parametrize(("body", "expected"), FAILING.values(), ids=FAILING.keys())
def test_a_story_that_does_not_hold_says_where_and_how(
    tmp_path: Path, body: str, expected: list[str]
) -> None:
    assert _run(tmp_path, body) == expected


def test_data_is_a_subset_and_a_missing_key_fails(tmp_path: Path) -> None:
    lines = _run(
        tmp_path,
        f"""
        - name: data
          steps:
            - event: OrderCreated
              with: {ORDER}
              expect: {{data: {{order_id: o-1, payment_id: p-1}}}}
    """,
    )
    assert lines[0] == "s.yaml:7:24: step 1 (event OrderCreated): data differs"


def test_a_failing_step_ends_the_case(tmp_path: Path) -> None:
    lines = _run(
        tmp_path,
        f"""
        - name: two wrong steps
          steps:
            - event: OrderCreated
              with: {ORDER}
              expect: {{status: completed}}
            - event: PaymentFailed
              with: {{reason: no}}
              expect: {{status: running}}
    """,
    )
    assert [line for line in lines if "differs" in line] == [
        "s.yaml:7:26: step 1 (event OrderCreated): status differs"
    ]


PUBLISHING_SAGA = order_saga(
    "notify",
    """\
states:
  waiting:
    publish: {event: OrderPaid, with: {order_id: "${ saga.order_id }", amount: 1.0}}
    timeout: {after: 1m, goto: done}
  done: {end: success}
""",
)


def test_published_events_are_checked_by_type_and_payload(tmp_path: Path) -> None:
    (tmp_path / "notify.yaml").write_text(PUBLISHING_SAGA)
    path = tmp_path / "s.yaml"
    path.write_text(
        "saga: notify.yaml\n"
        "scenarios:\n"
        "  - name: publishes\n"
        "    steps:\n"
        "      - event: OrderCreated\n"
        "        with: {order_id: o-7}\n"
        "        expect: {published: [{event: OrderPaid, with: {order_id: o-7}}], sent: []}\n"
        "      - timer: timeout:waiting:1\n"
        "        expect: {state: done, published: [OrderPaid]}\n"
    )
    loaded = load(path)
    assert loaded.suite is not None, [str(d) for d in loaded.diagnostics]
    result = run_case(loaded.suite.machine, loaded.suite.cases[0])
    # step 1 holds; step 2 fires the timeout by its full name, and `done` publishes nothing
    assert result.failure is not None
    assert result.failure.step.number == 2
    assert [(m.key, m.expected, m.actual) for m in result.failure.mismatches] == [
        ("published", '["OrderPaid"]', "[]")
    ]
