"""Helpers of the saga-language tests (imported by name: tests/dsl is on sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner, Result

import saga_dsl
from sagabus.cli import language

REPO = Path(__file__).resolve().parents[2]
SHOWCASE = REPO / "sagas" / "order_processing.yaml"
HERE = Path(__file__).resolve().parent
BROKEN = HERE / "broken"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def machine_of(text: str) -> saga_dsl.Machine:
    """Loads saga text that must be valid and compiles it."""
    result = saga_dsl.load(text, name="test.yaml")
    assert result.definition is not None, "\n".join(str(d) for d in result.diagnostics)
    return saga_dsl.compile(result.definition)


def started_by_go(states: str) -> saga_dsl.Machine:
    """The machine of a saga started by `Go`, first in state `a`; `states` is the YAML
    under `states:`."""
    return machine_of("saga: t\nversion: 1\nstart: {on: Go}\ninitial: a\nstates:\n" + states)


def messages(text: str) -> list[str]:
    """`line:col: severity: message` of every diagnostic of saga text."""
    result = saga_dsl.load(text, name="t.yaml")
    return [str(d).removeprefix("t.yaml:") for d in result.diagnostics]


def sagabus(*args: str) -> Result:
    """Runs `sagabus ARGS...` in process; returns exit code and output."""
    return CliRunner().invoke(language.app, list(args))
