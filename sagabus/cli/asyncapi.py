"""`sagabus asyncapi`: the AsyncAPI 3.0 document of the services and sagas found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from bus.settings import DEFAULT_NAMESPACE
from bus.unitofwork.service import Service
from bus.wire.contracts import registry
from saga_dsl.saga_definition import SagaDefinition
from saga_dsl.saga_files import load_directory
from sagabus.asyncapi import asyncapi_document
from sagabus.cli.app import app
from sagabus.imports import load_services
from sagabus.participants import participants
from sagabus.project import open_project


@app.command("asyncapi")
def asyncapi(
    handlers: Annotated[
        list[str] | None,
        typer.Option(
            "--handlers",
            help="Module or package of services (repeatable; default: the project's services).",
        ),
    ] = None,
    sagas: Annotated[
        Path | None,
        typer.Option("--sagas", help="Directory of saga files (default: the project's sagas)."),
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", envvar="SAGABUS_NAMESPACE", help="Exchange prefix.")
    ] = DEFAULT_NAMESPACE,
    host: Annotated[
        str, typer.Option("--host", help="host:port of the RabbitMQ server described.")
    ] = "localhost:5672",
    output_format: Annotated[
        str, typer.Option("--format", help="json or yaml.")
    ] = "yaml",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Print the AsyncAPI 3.0 document of the services' and sagas' messages."""
    if output_format not in ("json", "yaml"):
        raise typer.BadParameter("--format must be json or yaml")
    project = open_project(services=handlers, sagas=sagas).config
    services = _services(project.services)
    definitions = _sagas(project.sagas)
    document = asyncapi_document(
        registry, participants(services, definitions), namespace=namespace, host=host
    )
    if output_format == "json":
        text = json.dumps(document, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def _services(targets: list[str]) -> list[Service]:
    found: list[Service] = []
    for target in targets:
        found.extend(load_services(target))
    return found


def _sagas(directory: Path | None) -> list[SagaDefinition]:
    if directory is None:
        return []
    loaded = load_directory(directory, registry=registry)
    if not loaded.ok:
        for diagnostic in loaded.diagnostics:
            typer.echo(str(diagnostic), err=True)
        raise typer.Exit(1)
    return loaded.definitions
