"""The benchmark runs the order saga's scenarios for at least the steps it is asked."""

from __future__ import annotations

from bench.scenario_bench import SCENARIOS, run_steps
from saga_dsl.scenarios import load_all, scenario_files


def test_the_bench_runs_at_least_the_steps_asked_and_every_case_passes() -> None:
    session = load_all(scenario_files([SCENARIOS]))
    assert session.suites and not session.diagnostics
    steps = run_steps(session, 1000)
    every_case = sum(len(case.steps) for suite in session.suites for case in suite.cases)
    assert 1000 <= steps < 1000 + every_case
