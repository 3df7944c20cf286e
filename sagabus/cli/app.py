"""The typer application and the one place where user-caused failures become one line.

Each group of commands lives in its own module and registers itself on `app`:
`messaging` (run, send, publish), `language` (validate, graph, schema),
`instances` (status, list, demo).
"""

from __future__ import annotations

import importlib
import sys

import typer

from bus.errors import SagabusError
from sagabus.imports import put_on_path

app = typer.Typer(
    name="sagabus",
    help="Declarative sagas, durable state and exactly-once effects on RabbitMQ.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

COMMAND_MODULES = (
    "sagabus.cli.messaging",
    "sagabus.cli.language",
    "sagabus.cli.instances",
    "sagabus.cli.operations",
    "sagabus.cli.demo",
    "sagabus.cli.streams",
    "sagabus.cli.dlq",
    "sagabus.cli.asyncapi",
    "sagabus.cli.scheduled",
    "sagabus.cli.scenarios",
    "sagabus.cli.console",
    "sagabus.cli.configuration",
    "sagabus.cli.scaffolding",
)

EXIT_USAGE = 2
"""Exit code of every failure the user caused (bad URL, bad JSON, broker down, ...)."""


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def main() -> None:
    put_on_path()  # the working directory first, as uvicorn and celery do
    _load_commands()
    try:
        app()
    except SagabusError as exc:
        print(f"sagabus: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
