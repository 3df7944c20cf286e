"""Which paths of one saga the scenarios took, and by which scenarios."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from saga_dsl.machine import Machine
from saga_dsl.scenarios.coverage import SagaPath, saga_paths
from saga_dsl.scenarios.runner import CaseResult

SHOWN_SCENARIOS = 2
"""Scenarios named per covered path; the rest are counted."""


@dataclass(frozen=True)
class PathCoverage:
    path: SagaPath
    scenarios: tuple[str, ...]
    """`file:line` of every case that took the path, each once."""

    @property
    def covered(self) -> bool:
        return bool(self.scenarios)


@dataclass(frozen=True)
class Coverage:
    """Every path of one saga, each with the cases that took it."""

    machine: Machine
    saga_file: str
    paths: tuple[PathCoverage, ...]

    @property
    def covered(self) -> int:
        return sum(p.covered for p in self.paths)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / len(self.paths) if self.paths else 100.0

    @property
    def missing(self) -> list[SagaPath]:
        return [p.path for p in self.paths if not p.covered]

    def summary(self) -> str:
        """`order_processing: 30/30 paths covered (100%)`."""
        return (
            f"{self.machine.name}: {self.covered}/{len(self.paths)} paths covered "
            f"({self.percent:.0f}%)"
        )

    def lines(self) -> Iterator[str]:
        """One line per path: covered or not, where it is written, what took it."""
        for item in self.paths:
            path = item.path
            where = f"{self.saga_file}:{path.at.line}"
            if not item.covered:
                yield f"  MISSING  {where}  {path.text}"
                continue
            shown = ", ".join(item.scenarios[:SHOWN_SCENARIOS])
            more = len(item.scenarios) - SHOWN_SCENARIOS
            if more > 0:
                shown += f" (+{more})"
            yield f"  covered  {where}  {path.text}  <- {shown}"


def coverage(machine: Machine, saga_file: str, results: Iterable[CaseResult]) -> Coverage:
    """The coverage of `machine` by the passing cases among `results` (all of its saga)."""
    by_key: dict[object, list[str]] = {}
    for result in results:
        if not result.passed:
            continue
        for key in dict.fromkeys(result.covered):
            where = by_key.setdefault(key, [])
            if result.case.where not in where:
                where.append(result.case.where)
    paths = tuple(
        PathCoverage(path, tuple(by_key.get(path.key, ()))) for path in saga_paths(machine)
    )
    return Coverage(machine, saga_file, paths)
