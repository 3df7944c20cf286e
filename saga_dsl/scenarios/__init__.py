"""Scenario tests for sagas: YAML stories run on the pure state machine.

A scenario file (`sagas/tests/*.yaml`) names a saga and tells it stories, step by step:
an event, a timer firing, time passing or a fault of the bus, each followed by what
should hold (state, status, saga data, commands sent, events published, compensations
run). `sagabus test` runs them, pytest collects them (the `saga_dsl.scenarios.pytest_plugin`
entry point), and `sagabus coverage` says which paths of the saga they took.

    session = run_all(load_all(scenario_files([Path("sagas")])))
    for result in session.results:
        print(describe(result))
"""

from saga_dsl.scenarios.catalog import Catalog, is_scenario_file
from saga_dsl.scenarios.coverage import SagaPath, saga_paths, taken
from saga_dsl.scenarios.loading import SuiteLoad, load, load_text
from saga_dsl.scenarios.runner import CaseResult, Failure, run_case
from saga_dsl.scenarios.session import (
    Session,
    describe,
    explain,
    load_all,
    run_all,
    scenario_files,
)
from saga_dsl.scenarios.suite import Case, StepSpec, Suite

__all__ = [
    "Case",
    "CaseResult",
    "Catalog",
    "Failure",
    "SagaPath",
    "Session",
    "StepSpec",
    "Suite",
    "SuiteLoad",
    "describe",
    "explain",
    "is_scenario_file",
    "load",
    "load_all",
    "load_text",
    "run_all",
    "run_case",
    "saga_paths",
    "scenario_files",
    "taken",
]
