"""Diagnostics: what is wrong with a saga file, where, and how bad.

Every problem found while loading a saga, from a YAML syntax error to an unreachable
state, becomes one `Diagnostic` that prints as `file:line:col: severity: message`.
Lines and columns count from 1, like editors do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Literal, NamedTuple, TypeVar

Severity = Literal["error", "warning"]

SUGGESTION_CUTOFF = 0.6
"""How alike two names must be (difflib ratio) for "did you mean" to offer one."""


class Position(NamedTuple):
    """A place in a source file: 1-based line and column."""

    line: int = 1
    col: int = 1


START = Position(1, 1)


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one file, at one position."""

    severity: Severity
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


T = TypeVar("T")


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """What a file gave (None when it has an error) and every diagnostic, in file order."""

    value: T | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


class Report:
    """Collects the diagnostics of one file while it is loaded."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Diagnostic] = []

    def error(self, at: Position, message: str) -> None:
        self.items.append(Diagnostic("error", self.file, at.line, at.col, message))

    def warning(self, at: Position, message: str) -> None:
        self.items.append(Diagnostic("warning", self.file, at.line, at.col, message))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """The diagnostics in file order, each reported once."""
        unique = dict.fromkeys(self.items)
        return sorted(unique, key=lambda d: (d.line, d.col, d.severity, d.message))


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `name`, if one is alike enough."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=SUGGESTION_CUTOFF)
    return close[0] if close else None


def suggest(name: str, candidates: Iterable[str]) -> str:
    """`"; did you mean 'x'?"` for the closest candidate, or `""` when none is close."""
    close = closest(name, candidates)
    return f"; did you mean {close!r}?" if close else ""
