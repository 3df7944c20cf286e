"""The scenario examples of docs/saga-language.md ("Testing sagas") run, so they stay true.

A block fenced ```yaml scenario must load and pass; a block fenced ```yaml scenario fails
must make `sagabus test` print the lines of the ```text block right after it (the file
is called scenarios.yaml there).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_support import REPO, SHOWCASE, sagabus
from support.doc_blocks import bodies, fenced_blocks, with_output

from saga_dsl.scenarios import load, run_case

DOC = REPO / "docs" / "saga-language.md"
BLOCKS = fenced_blocks(DOC)
PASSING = bodies(BLOCKS, "yaml scenario")
FAILING = with_output(BLOCKS, "yaml scenario fails")


def _place(tmp_path: Path, body: str) -> Path:
    """The example as sagas/tests/scenarios.yaml beside a copy of the order saga."""
    (tmp_path / "tests").mkdir()
    (tmp_path / SHOWCASE.name).write_text(SHOWCASE.read_text())
    path = tmp_path / "tests" / "scenarios.yaml"
    path.write_text(body)
    return path


def test_the_section_has_examples_of_both_kinds() -> None:
    assert len(PASSING) >= 2
    assert len(FAILING) == len(bodies(BLOCKS, "yaml scenario fails")) >= 1


@pytest.mark.parametrize("body", PASSING, ids=[f"passing-{i}" for i in range(len(PASSING))])
def test_a_documented_scenario_passes(tmp_path: Path, body: str) -> None:
    loaded = load(_place(tmp_path, body))
    assert loaded.suite is not None, [str(d) for d in loaded.diagnostics]
    for case in loaded.suite.cases:
        result = run_case(loaded.suite.machine, case)
        assert result.passed, (case.name, result.failure)


@pytest.mark.parametrize(
    ("body", "expected"), FAILING, ids=[f"failing-{i}" for i in range(len(FAILING))]
)
def test_a_documented_failure_prints_what_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, expected: str
) -> None:
    path = _place(tmp_path, body)
    monkeypatch.chdir(path.parent)
    result = sagabus("test", path.name)
    assert result.exit_code == 1
    assert result.output.splitlines()[: len(expected.splitlines())] == expected.splitlines()
