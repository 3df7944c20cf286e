"""Finding scenario files, running all their cases, and writing what happened.

`sagabus test` and the benchmark use this; the pytest plugin runs the same cases one
pytest item each.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from saga_dsl.diagnostics import Diagnostic
from saga_dsl.scenarios.catalog import Catalog, is_scenario_file
from saga_dsl.scenarios.loading import load
from saga_dsl.scenarios.runner import CaseResult, Failure, run_case
from saga_dsl.scenarios.suite import Suite

SKIPPED_DIRECTORIES = frozenset({"__pycache__", "node_modules", "venv", "build", "dist"})
"""Directories never searched for scenario files (nor those starting with a dot)."""


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """The scenario files among `paths`: files as given, directories searched deeply
    (but not hidden ones such as `.venv`, nor `SKIPPED_DIRECTORIES`)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for folder, directories, files in os.walk(path):
            directories[:] = sorted(
                d for d in directories if not d.startswith(".") and d not in SKIPPED_DIRECTORIES
            )
            found.extend(
                p for p in (Path(folder) / f for f in sorted(files)) if is_scenario_file(p)
            )
    return found


@dataclass
class Session:
    """The suites loaded, the diagnostics of the files that did not load, every result."""

    suites: list[Suite] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    results: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseResult]:
        return [result for result in self.results if not result.passed]

    @property
    def ok(self) -> bool:
        return not self.failed and not any(d.is_error for d in self.diagnostics)

    @property
    def steps(self) -> int:
        return sum(result.steps_run for result in self.results)


def load_all(files: Iterable[Path], catalog: Catalog | None = None) -> Session:
    """Loads every file (each saga once); files with errors leave diagnostics."""
    session = Session()
    shared = catalog or Catalog()
    for path in files:
        loaded = load(path, shared)
        session.diagnostics.extend(loaded.diagnostics)
        if loaded.suite is not None:
            session.suites.append(loaded.suite)
    return session


def run_all(session: Session) -> Session:
    """Runs every case of every loaded suite, in file order."""
    for suite in session.suites:
        session.results.extend(run_case(suite.machine, case) for case in suite.cases)
    return session


def describe(result: CaseResult) -> str:
    """One line per case: `PASS file:line name` or `FAIL ...`."""
    verdict = "PASS" if result.passed else "FAIL"
    return f"{verdict} {result.case.where} {result.case.name}"


def explain(failure: Failure, file: str) -> Iterator[str]:
    """The lines that say why a case failed: where, which step, expected and actual."""
    step = failure.step
    head = f"step {step.number} ({step.describe()})"
    if failure.error is not None:
        yield f"{file}:{step.at.line}:{step.at.col}: {head}: {failure.error}"
        return
    for mismatch in failure.mismatches:
        at = mismatch.at
        yield f"{file}:{at.line}:{at.col}: {head}: {mismatch.key} differs"
        yield f"  expected: {mismatch.expected}"
        yield f"  actual:   {mismatch.actual}"


def results_of(session: Session, saga: str) -> list[CaseResult]:
    """The results of the cases written for saga `saga`."""
    files = {suite.file for suite in session.suites if suite.machine.name == saga}
    return [result for result in session.results if result.case.file in files]
