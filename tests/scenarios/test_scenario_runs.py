"""Scenarios run on the pure machine: expectations hold or fail with a clear difference."""

from __future__ import annotations

from pathlib import Path

from scenario_support import ORDER, write

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


def test_a_right_story_passes(tmp_path: Path) -> None:
    assert (
        _run(
            tmp_path,
            f"""
        - name: paid
          steps:
            - event: OrderCreated
              with: {ORDER}
              expect: {{state: awaiting_payment, sent: [ProcessPayment]}}
            - event: PaymentSucceeded
              with: {{payment_id: p-1, amount: 25.0}}
              expect: {{state: reserving_inventory, data: {{payment_id: p-1}}}}
    """,
        )
        == []
    )


def test_a_wrong_state_names_the_line_and_both_states(tmp_path: Path) -> None:
    lines = _run(
        tmp_path,
        f"""
        - name: paid
          steps:
            - event: OrderCreated
              with: {ORDER}
            - event: PaymentSucceeded
              with: {{payment_id: p-1, amount: 25.0}}
              expect: {{state: manual_review}}
    """,
    )
    assert lines == [
        "s.yaml:9:25: step 2 (event PaymentSucceeded): state differs",
        '  expected: "manual_review"',
        '  actual:   "reserving_inventory"',
    ]


def test_a_wrong_payload_shows_what_was_sent(tmp_path: Path) -> None:
    lines = _run(
        tmp_path,
        f"""
        - name: paid
          steps:
            - event: OrderCreated
              with: {ORDER}
              expect:
                sent: [{{command: ProcessPayment, with: {{amount: 30}}}}]
    """,
    )
    assert lines == [
        "s.yaml:8:17: step 1 (event OrderCreated): sent differs",
        '  expected: [{"ProcessPayment": {"amount": 30}}]',
        '  actual:   [{"ProcessPayment": {"order_id": "o-1", "amount": 25.0}}]',
    ]


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


def test_advance_fires_due_timers_in_order_and_no_more(tmp_path: Path) -> None:
    assert (
        _run(
            tmp_path,
            f"""
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
        )
        == []
    )


def test_firing_a_timer_that_is_not_armed_fails_the_step(tmp_path: Path) -> None:
    lines = _run(
        tmp_path,
        f"""
        - name: no compensation yet
          steps:
            - event: OrderCreated
              with: {ORDER}
            - timer: compensate
    """,
    )
    assert lines == [
        "s.yaml:7:9: step 2 (timer compensate): no armed timer matches 'compensate' "
        "(armed: retry:awaiting_payment:1:1, timeout:awaiting_payment:1)"
    ]


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


def test_each_case_of_a_table_runs_with_its_values(tmp_path: Path) -> None:
    lines = _run(
        tmp_path,
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
    )
    assert lines == [
        "s.yaml:12:25: step 2 (event PaymentSucceeded): state differs",
        '  expected: "reserving_inventory"',
        '  actual:   "manual_review"',
    ]


def test_a_parked_instance_reports_its_reason(tmp_path: Path) -> None:
    assert (
        _run(
            tmp_path,
            """
        - name: a start event without the fields the saga reads
          steps:
            - event: OrderCreated
              with: {order_id: o-1}
              expect: {status: parked, reason: customer_id}
    """,
        )
        == []
    )


def test_a_reload_keeps_the_instance_and_stale_timers_are_ignored(tmp_path: Path) -> None:
    assert (
        _run(
            tmp_path,
            f"""
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
        )
        == []
    )


PUBLISHING_SAGA = """\
saga: notify
version: 1
start: {on: OrderCreated, set: {order_id: "${ event.order_id }"}}
initial: waiting
states:
  waiting:
    publish: {event: OrderPaid, with: {order_id: "${ saga.order_id }", amount: 1.0}}
    timeout: {after: 1m, goto: done}
  done: {end: success}
"""


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
