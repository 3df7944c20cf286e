"""Static checks that warn (exit 0) and the showcase against the real contracts."""

from __future__ import annotations

from pathlib import Path

from dsl_support import SHOWCASE, messages

import saga_dsl
from bus.wire.contracts import Registry

SKELETON = """saga: s
version: 1
start: {on: Go, set: {id: "${ event.id }"}}
initial: a
states:
%s
  done: {end: success}
"""


def test_the_showcase_is_clean_against_the_example_contracts(contracts: Registry) -> None:
    result = saga_dsl.load(SHOWCASE, registry=contracts)
    assert result.diagnostics == []
    assert result.ok


def test_data_set_on_only_some_paths_is_a_warning() -> None:
    text = SKELETON % (
        "  a:\n"
        "    on:\n"
        '      Paid: {set: {pid: "${ event.pid }"}, goto: b}\n'
        "      Free: {goto: b}\n"
        "  b:\n"
        '    send: {command: Ship, with: {pid: "${ saga.pid }"}}\n'
        "    on: {Shipped: {goto: done}}"
    )
    assert messages(text) == [
        "11:43: warning: saga.pid may be unset when entering 'b': not every path here sets it"
    ]


def test_a_transition_after_an_unguarded_one_is_a_warning() -> None:
    text = SKELETON % "  a:\n    on:\n      Go:\n        - goto: done\n        - goto: done"
    assert messages(text) == [
        "10:11: warning: this Go transition never runs: the one before it has no `if`"
    ]


def test_retry_without_a_command_to_resend_is_a_warning() -> None:
    text = SKELETON % "  a:\n    retry: {attempts: 2, after: 1s}\n    on: {Go: {goto: done}}"
    assert messages(text) == ["7:5: warning: state 'a' has `retry` but sends no command to resend"]


def test_an_event_without_the_correlate_field_is_a_warning(contracts: Registry) -> None:
    text = SHOWCASE.read_text().replace("correlate: order_id", "correlate: customer_id")
    warnings = [str(d) for d in saga_dsl.load(text, registry=contracts).diagnostics]
    assert any("PaymentSucceeded has no field 'customer_id'" in w for w in warnings)
    assert all(": warning: " in w for w in warnings)


def test_compensate_true_in_any_is_fine_when_some_state_can_be_undone() -> None:
    assert messages(SHOWCASE.read_text()) == []


def test_without_contracts_unknown_types_are_not_errors() -> None:
    text = SHOWCASE.read_text().replace("command: ShipOrder", "command: ShipTheOrder")
    assert saga_dsl.load(text).ok


def test_two_files_with_one_version_of_a_saga_are_an_error(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "a.yaml").write_text(SHOWCASE.read_text())
    (folder / "b.yml").write_text(SHOWCASE.read_text())
    (folder / "notes.txt").write_text("not a saga")
    loaded = saga_dsl.load_directory(folder)
    assert [d.name for d in loaded.definitions] == ["order_processing"]
    assert [d.message for d in loaded.diagnostics] == [
        f"saga 'order_processing' version 1 is defined already in {folder / 'a.yaml'}"
    ]
    assert not loaded.ok


def test_two_versions_of_a_saga_load_side_by_side(tmp_path: Path) -> None:
    (tmp_path / "order_processing@1.yaml").write_text(SHOWCASE.read_text())
    (tmp_path / "order_processing.yaml").write_text(
        SHOWCASE.read_text().replace("version: 1", "version: 2")
    )
    loaded = saga_dsl.load_directory(tmp_path)
    assert loaded.ok
    assert sorted(d.version for d in loaded.definitions) == [1, 2]
