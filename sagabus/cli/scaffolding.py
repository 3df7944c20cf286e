"""`sagabus init DIR`: scaffold a project (sagabus/scaffold.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sagabus.cli.app import app
from sagabus.scaffold import package_name, scaffold


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The new project's directory.")],
    package: Annotated[
        str | None,
        typer.Option("--package", help="Name of its Python package (default: from DIR)."),
    ] = None,
) -> None:
    """Create a project: contracts, a service, a saga, their tests, a README."""
    written = scaffold(directory, package)
    for path in written:
        typer.echo(f"created {path}")
    name = package or package_name(directory)
    typer.echo(
        f"\nnext:\n  cd {directory}\n  pip install -e '.[test]'\n  sagabus validate sagas\n"
        f"  sagabus run\n  sagabus send PlaceOrder --data '{{\"order_id\": \"o-1\", "
        f"\"amount\": 25}}' --follow    # in another shell\n  pytest\n"
        f"(package {name}; settings in [tool.sagabus] of {directory / 'pyproject.toml'})"
    )
