"""Helpers of the scenario tests (imported by name: tests/scenarios is on sys.path)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from typer.testing import CliRunner, Result

from sagabus.cli import scenarios as scenario_commands
from sagabus.cli.app import app

REPO = Path(__file__).resolve().parents[2]
SAGAS = REPO / "sagas"
SHOWCASE = SAGAS / "order_processing.yaml"
ORDER_SCENARIOS = sorted((SAGAS / "tests").glob("order_*.yaml"))

assert scenario_commands.EXIT_FAILED == 1  # the commands are registered on `app`

ORDER = "{order_id: o-1, customer_id: c-1, amount: 25.0, items: []}"


def order_saga(name: str, rest: str) -> str:
    """A saga file `name` (version 1) started by OrderCreated, keeping its order_id, and
    first `waiting`; `rest` (its other top-level keys) follows."""
    start = '{on: OrderCreated, set: {order_id: "${ event.order_id }"}}'
    return f"saga: {name}\nversion: 1\nstart: {start}\ninitial: waiting\n{rest}"


def write(folder: Path, name: str, body: str) -> Path:
    """A scenario file testing the showcase saga: `body` goes under `scenarios:`."""
    path = folder / name
    head = f"saga: {SHOWCASE}\nscenarios:\n"
    path.write_text(head + textwrap.indent(textwrap.dedent(body).strip("\n"), "  ") + "\n")
    return path


def sagabus(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))
