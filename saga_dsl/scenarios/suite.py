"""Loaded scenarios: each case ready to run, with the position of everything it checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from bus.durations import format_duration
from saga_dsl.diagnostics import Position
from saga_dsl.machine import Machine
from saga_dsl.scenarios.model import Expect

StepKind = Literal["event", "timer", "advance", "fault"]


@dataclass(frozen=True)
class StepSpec:
    """One step of a case: its input, what it expects, and where each is written."""

    number: int
    kind: StepKind
    at: Position
    event: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    timer: str | None = None
    advance: timedelta | None = None
    fault: str | None = None
    expect: Expect | None = None
    expect_at: Mapping[str, Position] = field(default_factory=dict)

    def describe(self) -> str:
        """`event PaymentSucceeded`, `timer timeout`, `advance 10s`, `fault duplicate`."""
        if self.kind == "advance" and self.advance is not None:
            return f"advance {format_duration(self.advance)}"
        detail = {"event": self.event, "timer": self.timer, "fault": self.fault}[self.kind]
        return f"{self.kind} {detail}"


@dataclass(frozen=True)
class Case:
    """A scenario with one row of its parameters filled in."""

    name: str
    file: str
    at: Position
    steps: tuple[StepSpec, ...]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.at.line}"


@dataclass(frozen=True)
class Suite:
    """The cases of one scenario file and the machine of the saga they test."""

    file: str
    machine: Machine
    saga_file: str
    cases: tuple[Case, ...]
