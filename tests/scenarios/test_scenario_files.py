"""Broken scenario files are refused with file:line:col and a way to fix them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from scenario_support import REPO, SHOWCASE

from saga_dsl.scenarios import load
from saga_dsl.scenarios.model import json_schema_text

GOOD_START = "- {event: OrderCreated, with: {order_id: o-1}}"


def steps(*items: str) -> str:
    """A scenario file with one case, `x`, on the showcase saga: `items` are its steps."""
    listed = "".join(textwrap.indent(item, "      ") + "\n" for item in items)
    return "saga: SAGA\nscenarios:\n  - name: x\n    steps:\n" + listed


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).replace("SAGA", str(SHOWCASE)))
    loaded = load(path)
    assert loaded.suite is None
    return [str(d).replace(str(path), "s.yaml") for d in loaded.diagnostics]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            steps("- event: OrderCreated\n  expect: {stat: running}"),
            "s.yaml:6:18: error: unknown key 'stat' in scenarios[0].steps[0].expect; "
            "did you mean 'state'?",
        ),
        (
            steps(GOOD_START, "- event: PaymentSucceded"),
            "s.yaml:6:16: error: saga order_processing does not listen to PaymentSucceded; "
            "did you mean 'PaymentSucceeded'?",
        ),
        (
            steps(GOOD_START, "- timer: timeout\n  expect: {state: reviewing}"),
            "s.yaml:7:25: error: saga order_processing has no state 'reviewing'",
        ),
        (
            steps("- event: PaymentFailed"),
            "s.yaml:5:9: error: the first step starts the saga: `event: OrderCreated` "
            "(saga order_processing starts on it)",
        ),
        (
            steps(GOOD_START, "- {timer: timeout, advance: 5s}"),
            "s.yaml:6:9: error: step 2: a step is one of event, timer, advance or fault; "
            "this one has timer and advance",
        ),
        (
            """\
            saga: SAGA
            fixtures:
              order: {order_id: o-1}
            scenarios:
              - name: x
                steps:
                  - {event: OrderCreated, fixture: ordr}
            """,
            "s.yaml:7:40: error: no fixture 'ordr'; did you mean 'order'?",
        ),
        (
            """\
            saga: SAGA
            scenarios:
              - name: x ${ amount }
                cases: [{amont: 5}]
                steps:
                  - {event: OrderCreated}
            """,
            "s.yaml:3:11: error: ${ amount } names no parameter of the cases (amont)",
        ),
        (
            steps(GOOD_START, "- advance: 10"),
            "s.yaml:6:18: error: scenarios[0].steps[1].advance: "
            "duration 10 needs a unit: write '10s' or '10ms'",
        ),
        (
            """\
            saga: order_procesing
            scenarios:
              - name: x
                steps: [{event: OrderCreated}]
            """,
            "s.yaml:1:7: error: no saga named 'order_procesing' in",
        ),
        (
            steps("- event: OrderCreated\nexpect: {}"),
            "s.yaml:6:7: error: YAML syntax:",
        ),
    ],
    ids=[
        "misspelt-key", "unknown-event", "unknown-state", "first-step", "two-inputs",
        "unknown-fixture", "unknown-parameter", "bad-duration", "unknown-saga", "yaml-syntax",
    ],
)  # fmt: skip
def test_a_broken_file_gives_one_error_at_its_position(
    tmp_path: Path, text: str, expected: str
) -> None:
    errors = _errors(tmp_path, text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors[0]


def test_a_saga_by_name_is_found_beside_the_tests_directory(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "order.yaml").write_text(SHOWCASE.read_text())
    path = tmp_path / "tests" / "s.yaml"
    path.write_text(
        "saga: order_processing\nscenarios:\n  - name: x\n    steps: [{event: OrderCreated}]\n"
    )
    loaded = load(path)
    assert loaded.suite is not None, [str(d) for d in loaded.diagnostics]
    assert loaded.suite.machine.name == "order_processing"


def test_the_committed_json_schema_is_the_models_schema() -> None:
    assert (REPO / "scenario.schema.json").read_text() == json_schema_text()
