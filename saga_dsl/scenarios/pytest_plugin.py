"""pytest collects scenario files: each YAML file with a top-level `scenarios:` key is a
test file, and each case in it a test (registered as the `pytest11` entry point
`sagabus-scenarios`, so a project's plain `pytest` runs its saga scenarios).

A failing case reports the step, the expectation's file:line:col, expected and actual;
a file that does not load reports its diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saga_dsl.scenarios.catalog import Catalog, is_scenario_file
from saga_dsl.scenarios.loading import load
from saga_dsl.scenarios.runner import run_case
from saga_dsl.scenarios.session import explain
from saga_dsl.scenarios.suite import Case, Suite

_CATALOG = pytest.StashKey[Catalog]()


class ScenarioFailed(Exception):
    """A case did not do what it said, or its file does not load."""


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and is_scenario_file(file_path):
        collector: pytest.Collector = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


def _catalog(config: pytest.Config) -> Catalog:
    """One catalog per test session, so each saga file is loaded once."""
    if _CATALOG not in config.stash:
        config.stash[_CATALOG] = Catalog()
    return config.stash[_CATALOG]


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        loaded = load(self.path, _catalog(self.config))
        if loaded.suite is None:
            problems = "\n".join(str(d) for d in loaded.diagnostics if d.is_error)
            yield BrokenScenarioFile.from_parent(self, name="load", problems=problems)
            return
        for case in loaded.suite.cases:
            yield ScenarioItem.from_parent(self, name=case.name, suite=loaded.suite, case=case)


class ScenarioItem(pytest.Item):
    def __init__(self, *, suite: Suite, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.case = case

    def runtest(self) -> None:
        result = run_case(self.suite.machine, self.case)
        if result.failure is not None:
            raise ScenarioFailed("\n".join(explain(result.failure, self.case.file)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"{self.case.where} {self.case.name}\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.at.line - 1, f"scenario: {self.case.name}"


class BrokenScenarioFile(pytest.Item):
    def __init__(self, *, problems: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = problems

    def runtest(self) -> None:
        raise ScenarioFailed(self.problems)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"the scenario file does not load:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "scenario file"
