"""Reading a scenario file: YAML with positions, its shape, its saga, then each case.

Nothing here raises for a bad file: every problem becomes a `Diagnostic` at its line
and column (`file:line:col: error: message`), as saga files report theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from saga_dsl import positioned_yaml
from saga_dsl.diagnostics import Loaded, Report
from saga_dsl.positioned_yaml import Document
from saga_dsl.scenarios.catalog import Catalog, Found, SagaNotFound
from saga_dsl.scenarios.model import Scenario, ScenarioFile
from saga_dsl.scenarios.parameters import UnknownParameter, case_name, fill
from saga_dsl.scenarios.shape_errors import report_errors
from saga_dsl.scenarios.steps import build_step
from saga_dsl.scenarios.suite import Case, Suite

FindSaga = Callable[[str], Found]


class SuiteLoad(Loaded[Suite]):
    """A scenario file's suite (None when the file has an error) and its diagnostics."""

    @property
    def suite(self) -> Suite | None:
        return self.value


def load(path: Path, catalog: Catalog | None = None) -> SuiteLoad:
    """Loads the scenario file at `path`; its saga comes from `catalog` (or a new one)."""
    report = Report(str(path))
    text = positioned_yaml.read_file(path, report)
    if text is None:
        return SuiteLoad(None, report.sorted())
    found_in = catalog or Catalog()
    return load_text(text, report, lambda name: found_in.find(name, path))


def load_text(text: str, report: Report, find_saga: FindSaga) -> SuiteLoad:
    """Loads scenario text, reporting into `report`; `find_saga` resolves `saga:`."""
    doc = positioned_yaml.parse(text, report)
    if doc is None:
        return SuiteLoad(None, report.sorted())
    if not isinstance(doc.data, dict):
        report.error(doc.at(()), "a scenario file is a mapping: saga:, fixtures:, scenarios:")
        return SuiteLoad(None, report.sorted())
    model = _shape(doc, report)
    if model is None:
        return SuiteLoad(None, report.sorted())
    try:
        found = find_saga(model.saga)
    except SagaNotFound as exc:
        report.error(doc.at(("saga",)), str(exc))
        return SuiteLoad(None, report.sorted())
    cases: list[Case] = []
    for index, raw in enumerate(doc.data["scenarios"]):
        cases.extend(_cases(doc, report, index, raw, model, found))
    if report.has_errors:
        return SuiteLoad(None, report.sorted())
    return SuiteLoad(Suite(report.file, found.machine, found.file, tuple(cases)), report.sorted())


def _shape(doc: Document, report: Report) -> ScenarioFile | None:
    """The file's model, each scenario checked with its first row of parameters."""
    data = dict(doc.data)
    scenarios = data.get("scenarios")
    if isinstance(scenarios, list):
        data["scenarios"] = [
            _filled(doc, report, index, raw, _rows(raw)[0]) for index, raw in enumerate(scenarios)
        ]
    if report.has_errors:
        return None
    try:
        return ScenarioFile.model_validate(data)
    except ValidationError as exc:
        report_errors(doc, report, exc, ScenarioFile)
        return None


def _rows(raw: Any) -> list[dict[str, Any]]:
    rows = raw.get("cases") if isinstance(raw, dict) else None
    if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):
        return rows
    return [{}]


def _filled(doc: Document, report: Report, index: int, raw: Any, row: dict[str, Any]) -> Any:
    if not isinstance(raw, dict):
        return raw
    body = {key: value for key, value in raw.items() if key != "cases"}
    try:
        filled = fill(body, row)
    except UnknownParameter as exc:
        report.error(doc.at(("scenarios", index, *exc.loc)), str(exc))
        return raw
    if "cases" in raw:
        filled["cases"] = raw["cases"]
    return filled


def _cases(
    doc: Document, report: Report, index: int, raw: Any, model: ScenarioFile, found: Found
) -> list[Case]:
    cases = []
    for row in _rows(raw):
        filled = _filled(doc, report, index, raw, row)
        try:
            scenario = Scenario.model_validate(filled)
        except ValidationError as exc:
            report_errors(doc, report, exc, Scenario, ("scenarios", index))
            continue
        loc = ("scenarios", index)
        steps = tuple(
            build_step(doc, report, (*loc, "steps", number), step, model.fixtures, found.machine)
            for number, step in enumerate(scenario.steps)
        )
        name = case_name(str(raw.get("name", "")), row)
        cases.append(Case(name, report.file, doc.at((*loc, "name")), steps))
    return cases
