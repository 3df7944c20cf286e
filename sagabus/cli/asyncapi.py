"""`sagabus asyncapi`: the AsyncAPI 3.0 document of the project's services and sagas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from bus.wire.contracts import registry
from saga_dsl.engine.versions import InvalidSagas
from sagabus.asyncapi import asyncapi_document, broker_host
from sagabus.cli.app import app
from sagabus.daemon import assemble
from sagabus.participants import of_endpoint
from sagabus.project import open_project


@app.command("asyncapi")
def asyncapi(
    handlers: Annotated[
        list[str] | None,
        typer.Option("--handlers", help="Module or package of services (repeatable)"
                     " [SAGABUS_SERVICES; [tool.sagabus] services]."),
    ] = None,
    sagas: Annotated[
        Path | None,
        typer.Option("--sagas", help="Directory of saga files [SAGABUS_SAGAS]."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Exchange prefix [SAGABUS_NAMESPACE].")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="host:port of the RabbitMQ server described"
                     " (default: that of the configured AMQP URL)."),
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="json or yaml.")] = "yaml",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Print the AsyncAPI 3.0 document of the services' and sagas' messages."""
    if output_format not in ("json", "yaml"):
        raise typer.BadParameter("--format must be json or yaml")
    project = open_project(services=handlers, sagas=sagas, namespace=namespace)
    try:
        endpoints = assemble(project.config).endpoints
    except InvalidSagas as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    document = asyncapi_document(
        registry,
        [of_endpoint(e) for e in endpoints],
        namespace=project.config.namespace,
        host=host or broker_host(project.config.amqp_url),
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
