"""Bad input: every broken saga gets its error, at its position, fast, and exit code 1.

The files of tests/dsl/broken/ and their expectations (broken/expected.yaml) cover each
check of the language plus hostile input; the huge and deeply nested files are made
here, not committed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dsl_support import BROKEN, HERE, REPO, sagabus

import saga_dsl
from bus.wire.contracts import Registry
from saga_dsl.positioned_yaml import MAX_DEPTH, MAX_SOURCE_BYTES, MAX_VALUES
from saga_dsl.schema import MAX_STATES

EXPECTED: dict[str, str] = yaml.safe_load((BROKEN / "expected.yaml").read_text())
CORPUS = sorted(p.name for p in BROKEN.glob("*.yaml") if p.name != "expected.yaml")
GOOD = HERE / "good_mini.yaml"
TIME_LIMIT = 1.0
CLI = ["validate", "--contracts", "handlers.messages"]


def _error_lines(result: saga_dsl.LoadResult) -> list[str]:
    return [f"{d.line}:{d.col}: {d.message}" for d in result.diagnostics if d.is_error]


def test_corpus_has_at_least_thirty_files_each_with_an_expectation() -> None:
    assert len(CORPUS) >= 30
    assert sorted(EXPECTED) == CORPUS


def test_the_unbroken_original_passes(contracts: Registry) -> None:
    result = saga_dsl.load(GOOD, registry=contracts)
    assert result.diagnostics == []


@pytest.mark.parametrize("name", CORPUS)
def test_broken_file_gives_its_error_at_its_position(name: str, contracts: Registry) -> None:
    started = time.perf_counter()
    result = saga_dsl.load(BROKEN / name, registry=contracts)
    elapsed = time.perf_counter() - started
    assert result.definition is None
    expected = EXPECTED[name]
    assert any(line.startswith(expected) for line in _error_lines(result)), (
        f"expected {expected!r}, got {_error_lines(result)}"
    )
    assert elapsed < TIME_LIMIT


@pytest.mark.parametrize("name", CORPUS)
def test_validate_exits_1_and_prints_file_line_col(name: str, contracts: Registry) -> None:
    path = BROKEN / name
    started = time.perf_counter()
    outcome = sagabus(*CLI, str(path))
    elapsed = time.perf_counter() - started
    assert outcome.exit_code == 1, outcome.output
    position, message = EXPECTED[name].split(": ", 1)
    assert f"{path}:{position}: error: {message}" in outcome.output
    assert "Traceback" not in outcome.output
    assert elapsed < TIME_LIMIT


def test_the_real_command_line_gives_no_traceback_for_the_whole_corpus() -> None:
    files = [str(BROKEN / name) for name in CORPUS]
    run = subprocess.run(
        [sys.executable, "-c", "from sagabus.cli import main; main()", *CLI, *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    for name in CORPUS:
        assert f"{BROKEN / name}:" in run.stdout


def _check_generated(path: Path, expected: str) -> None:
    started = time.process_time()  # CPU, not wall time: the load of the machine is no fault
    outcome = sagabus("validate", "--contracts", "", str(path))
    elapsed = time.process_time() - started
    assert outcome.exit_code == 1, outcome.output
    assert f"{path}:{expected}" in outcome.output
    assert elapsed < TIME_LIMIT


def _states(count: int) -> str:
    lines = ["saga: huge", "version: 1", "start: {on: OrderCreated}", "initial: s0", "states:"]
    lines.extend(f"  s{i}: {{on: {{OrderShipped: {{goto: s{i + 1}}}}}}}" for i in range(count))
    lines.append(f"  s{count}: {{end: success}}")
    return "\n".join(lines) + "\n"


def test_a_100000_state_file_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(_states(100_000))
    assert path.stat().st_size > MAX_SOURCE_BYTES
    _check_generated(path, f"1:1: error: file is {path.stat().st_size:,} bytes")


def test_too_many_states_are_refused_at_the_first_one_too_many(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("\n".join(f"s{i}: {{}}" for i in range(7_000)).replace("s", "  s") + "\n")
    text = "saga: many\nversion: 1\nstart: {on: X}\ninitial: s0\nstates:\n" + path.read_text()
    path.write_text(text)
    first_extra = 5 + MAX_STATES + 1
    _check_generated(path, f"{first_extra}:3: error: 7,000 states; a saga may have at most")


def test_deep_flow_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep_flow.yaml"
    path.write_text("saga: " + "[" * 100_000 + "]" * 100_000 + "\n")
    _check_generated(path, "1:")
    outcome = sagabus("validate", "--contracts", "", str(path))
    assert "nesting" in outcome.output


def test_deep_block_nesting_is_refused_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "deep_block.yaml"
    path.write_text("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x\n")
    _check_generated(path, f"{MAX_DEPTH + 1}:{2 * MAX_DEPTH + 1}: error: nesting is deeper than")


def test_a_file_of_too_many_values_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("saga: [" + ",".join(["1"] * (MAX_VALUES + 10)) + "]\n")
    _check_generated(path, "1:")
    outcome = sagabus("validate", "--contracts", "", str(path))
    assert f"more than {MAX_VALUES:,} values" in outcome.output


def test_a_file_of_too_many_expressions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "expressions.yaml"
    many = "${ saga.x }" * 20_000
    path.write_text(GOOD.read_text().replace("items: []", f'items: "{many}"'))
    _check_generated(path, "32:")
    outcome = sagabus("validate", "--contracts", "", str(path))
    assert "more than 10,000 expressions" in outcome.output
