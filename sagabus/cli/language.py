"""`sagabus validate`, `sagabus graph` and `sagabus schema`: the saga language's commands.

`validate` prints every diagnostic as `file:line:col: severity: message` and exits 1
when any is an error, 0 otherwise (warnings are printed too). Message types and fields
are checked against the contracts that importing `--contracts` registers (default: the
`handlers` package and its `messages` module, when they exist).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

import saga_dsl
from bus.wire.contracts import Registry, registry
from saga_dsl.graph import FORMATS, render
from saga_dsl.saga_files import SAGA_SUFFIXES
from saga_dsl.schema import json_schema_text
from sagabus.cli.app import app

EXIT_INVALID = 1
"""Exit code of `validate` and `graph` when a saga file has errors."""

DEFAULT_CONTRACTS = "handlers"


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Saga files, or directories of *.yaml files.")
    ],
    contracts: Annotated[
        str,
        typer.Option(help="Module whose import registers the message contracts; '' for none."),
    ] = DEFAULT_CONTRACTS,
) -> None:
    """Check saga files; print every problem with its position; exit 1 on any error."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SAGA_SUFFIXES))
        else:
            files.append(path)
    if not files:
        typer.echo("sagabus: error: no saga files (*.yaml, *.yml) to check", err=True)
        raise typer.Exit(EXIT_INVALID)
    loaded = saga_dsl.load_files(files, registry=_contracts(contracts))
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
    contracts: Annotated[
        str,
        typer.Option(help="Module whose import registers the message contracts; '' for none."),
    ] = DEFAULT_CONTRACTS,
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


def _contracts(module: str) -> Registry | None:
    """Imports `module` (and its `messages` submodule) so its contracts register."""
    if not module:
        return None
    for name in (module, f"{module}.messages"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing not in (module, name) and not name.startswith(missing + "."):
                _warn(f"cannot import {name}: {exc}; message types are not checked")
                return None
        except Exception as exc:  # a broken contracts module must not hide the saga checks
            _warn(
                f"cannot import {name}: {type(exc).__name__}: {exc}; message types are not checked"
            )
            return None
    return registry if registry.names() else None


def _warn(message: str) -> None:
    print(f"sagabus: warning: {message}", file=sys.stderr)
