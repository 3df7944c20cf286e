"""`sagabus validate`, `sagabus graph` and `sagabus schema`: the saga language's commands.

`validate` prints every diagnostic as `file:line:col: severity: message` and exits 1
when any is an error, 0 otherwise (warnings are printed too). Message types and fields
are checked against the contracts that importing `--contracts` registers (default: the
project's services, from `[tool.sagabus]`; `--contracts ''` checks none). A contracts
module that cannot be imported is a one-line error, exit 2: the checks of message types
are never dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import saga_dsl
from bus.errors import ConfigurationError
from bus.wire.contracts import Registry, registry
from saga_dsl.graph import FORMATS, render
from saga_dsl.saga_files import SAGA_SUFFIXES
from saga_dsl.schema import json_schema_text
from sagabus.cli.app import app
from sagabus.imports import import_contracts
from sagabus.project import open_project

EXIT_INVALID = 1
"""Exit code of `validate` and `graph` when a saga file has errors."""

ContractsOption = Annotated[
    str | None,
    typer.Option(
        help="Module or package whose import registers the message contracts (default: "
        "the project's services); '' for none.",
    ),
]

@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Saga files, or directories of *.yaml files (default: the project's sagas)."
        ),
    ] = None,
    contracts: ContractsOption = None,
) -> None:
    """Check saga files; print every problem with its position; exit 1 on any error."""
    registry_ = _contracts(contracts)
    if not paths:
        sagas = open_project().config.sagas
        if sagas is None:
            raise ConfigurationError(
                "name saga files or directories, or sagas in [tool.sagabus] of pyproject.toml"
            )
        paths = [sagas]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SAGA_SUFFIXES))
        else:
            files.append(path)
    if not files:
        typer.echo("sagabus: error: no saga files (*.yaml, *.yml) to check", err=True)
        raise typer.Exit(EXIT_INVALID)
    loaded = saga_dsl.load_files(files, registry=registry_)
    for diagnostic in loaded.diagnostics:
        typer.echo(str(diagnostic))
    errors = sum(d.is_error for d in loaded.diagnostics)
    warnings = len(loaded.diagnostics) - errors
    typer.echo(
        f"{len(files)} file(s) checked: {errors} error(s), {warnings} warning(s)",
        err=True,
    )
    if errors:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def graph(
    path: Annotated[Path, typer.Argument(help="A saga file.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")
    ] = "mermaid",
    contracts: ContractsOption = None,
) -> None:
    """Draw a saga's states and transitions as Mermaid or Graphviz DOT."""
    if format not in FORMATS:
        typer.echo(
            f"sagabus: error: unknown format {format!r}; use {' or '.join(FORMATS)}", err=True
        )
        raise typer.Exit(EXIT_INVALID)
    result = saga_dsl.load(path, registry=_contracts(contracts))
    if result.definition is None:
        for diagnostic in result.diagnostics:
            typer.echo(str(diagnostic), err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(render(saga_dsl.compile(result.definition), format), nl=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of saga files (for editors' YAML language servers)."""
    typer.echo(json_schema_text(), nl=False)


def _contracts(module: str | None) -> Registry | None:
    """Imports `module` (default: the project's services) so its contracts register;
    None when there are none to check against."""
    targets = open_project().config.services if module is None else [module] if module else []
    import_contracts(targets)
    return registry if targets and registry.names() else None
