"""`sagabus config`: the effective settings of the project, each with where it came from.

    sagabus config [--json] [--handlers M] [--sagas DIR] [--store URL] ...

Origins: `flag`, `environment` (`SAGABUS_*`), `.env`, `pyproject.toml` (its
`[tool.sagabus]` table) or `default`. Credentials in URLs are shown as `***`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from sagabus.cli.app import app
from sagabus.cli.options import Json
from sagabus.config import load_config

NO_PROJECT = "none (no pyproject.toml with [tool.sagabus] here or above)"


@app.command("config")
def show_config(
    handlers: Annotated[
        list[str] | None, typer.Option("--handlers", help="Services modules (repeatable).")
    ] = None,
    sagas: Annotated[Path | None, typer.Option("--sagas", help="Saga directory.")] = None,
    store: Annotated[str | None, typer.Option("--store", help="Store URL.")] = None,
    amqp_url: Annotated[str | None, typer.Option("--amqp-url", help="RabbitMQ URL.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="Namespace.")] = None,
    prefetch: Annotated[int | None, typer.Option("--prefetch", help="Prefetch.")] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Metrics port.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Print the effective settings, each with where it came from (credentials redacted)."""
    loaded = load_config(
        services=handlers, sagas=sagas, store=store, amqp_url=amqp_url, namespace=namespace,
        prefetch=prefetch, metrics_port=metrics_port,
    )
    rows = loaded.shown()
    project = str(loaded.pyproject) if loaded.pyproject is not None else None
    if as_json:
        payload = {
            "project": project,
            "settings": {name: {"value": value, "from": origin} for name, value, origin in rows},
        }
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    typer.echo(f"project: {project or NO_PROJECT}")
    table = Table("setting", "value", "from", title_justify="left")
    for name, value, origin in rows:
        table.add_row(name, value, origin)
    Console(width=120).print(table)
