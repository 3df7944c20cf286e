"""The typer application and the one place where user-caused failures become one line.

Each group of commands lives in its own module and registers itself on `app`:
`messaging` (run, send, publish), `language` (validate, graph, schema),
`instances` (status, list), ... (`COMMANDS` names them all). `sagabus COMMAND ...`
imports only the module of COMMAND, so `sagabus status ID` does not pay for the
transport, the console's web stack or the CEL compiler; `sagabus --help` (and a
name that is no command) imports them all, to list every command with its help.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

from bus.errors import SagabusError
from sagabus.syspath import put_on_path

app = typer.Typer(
    name="sagabus",
    help="Declarative sagas, durable state and exactly-once effects on RabbitMQ.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Keeps `sagabus` a group of commands when only one command's module is loaded
    (typer runs a lone command as the program itself)."""


COMMANDS: dict[str, str] = {
    "run": "sagabus.cli.messaging",
    "send": "sagabus.cli.messaging",
    "publish": "sagabus.cli.messaging",
    "validate": "sagabus.cli.language",
    "graph": "sagabus.cli.language",
    "schema": "sagabus.cli.language",
    "status": "sagabus.cli.instances",
    "list": "sagabus.cli.instances",
    "resume": "sagabus.cli.operations",
    "retry": "sagabus.cli.operations",
    "goto": "sagabus.cli.operations",
    "cancel": "sagabus.cli.operations",
    "migrate": "sagabus.cli.operations",
    "demo": "sagabus.cli.demo",
    "stream": "sagabus.cli.streams",
    "projection": "sagabus.cli.streams",
    "dlq": "sagabus.cli.dlq",
    "asyncapi": "sagabus.cli.asyncapi",
    "scheduled": "sagabus.cli.scheduled",
    "test": "sagabus.cli.scenarios",
    "coverage": "sagabus.cli.scenarios",
    "console": "sagabus.cli.console",
    "config": "sagabus.cli.configuration",
    "init": "sagabus.cli.scaffolding",
}
"""Each top-level command (or group) and the module that registers it."""

COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))

EXIT_USAGE = 2
"""Exit code of every failure the user caused (bad URL, bad JSON, broker down, ...)."""


def _load_commands(argv: Sequence[str] | None = None) -> None:
    """Imports the module of the command `argv` names, or every command module when
    `argv` is None or names none (`--help`, a typo: click then lists or suggests)."""
    named = COMMANDS.get(argv[0]) if argv else None
    for name in (named,) if named is not None else COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def main() -> None:
    put_on_path()  # the working directory first, as uvicorn and celery do
    _load_commands(sys.argv[1:])
    try:
        app()
    except SagabusError as exc:
        print(f"sagabus: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
