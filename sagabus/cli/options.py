"""The options several commands share, declared once (typer `Annotated` aliases).

Every command module imports from here, so this module imports typer alone: a
command still loads only its own module and what its body needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

StoreUrl = Annotated[str | None, typer.Option("--store", help="Store URL [SAGABUS_STORE].")]
AmqpUrl = Annotated[str | None, typer.Option("--amqp-url", help="RabbitMQ URL [SAGABUS_AMQP_URL].")]
Namespace = Annotated[
    str | None, typer.Option("--namespace", help="Exchange and queue prefix [SAGABUS_NAMESPACE].")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Handlers = Annotated[
    list[str] | None,
    typer.Option(
        "--handlers",
        help="Module, package or module:attribute of services (repeatable) "
        "[SAGABUS_SERVICES; default: services of [tool.sagabus]].",
    ),
]
Sagas = Annotated[
    Path | None,
    typer.Option(
        "--sagas", help="Directory of saga files [SAGABUS_SAGAS; default: sagas of [tool.sagabus]]."
    ),
]
