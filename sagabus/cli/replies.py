"""`sagabus send ... --wait-for EVENT`: send a command and print the event answering it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from bus.errors import ConfigurationError
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope

WaitFor = Annotated[
    list[str] | None,
    typer.Option(
        "--wait-for", metavar="EVENT",
        help="Wait for this event answering the command and print it (repeatable: any).",
    ),
]
ReplyTimeout = Annotated[
    float, typer.Option("--timeout", min=0.0, help="Seconds to wait for the reply.")
]
Match = Annotated[
    list[str] | None,
    typer.Option(
        "--match", metavar="FIELD",
        help="Match the reply by this payload field of the command instead of by ids"
        " (past a saga, e.g. --match order_id; repeatable).",
    ),
]


async def send_and_wait(
    client: BusClient,
    type_name: str,
    payload: Mapping[str, Any],
    *,
    correlation_id: str | None,
    wait_for: Sequence[str],
    timeout: float,  # noqa: ASYNC109 - the reply's deadline
    match: Sequence[str] = (),
) -> tuple[Envelope, Envelope]:
    """(the command sent, the reply) for `sagabus send --wait-for`."""
    missing = [f for f in match if f not in payload]
    if missing:
        raise ConfigurationError(f"--match {missing[0]}: the command's --data has no such field")
    command = client.envelope_of(type_name, payload, "command", correlation_id)
    reply = await client.request(
        command, reply=wait_for, timeout=timeout, where={f: payload[f] for f in match}
    )
    return command, reply


def print_reply(reply: Envelope) -> None:
    body = json.dumps(reply.payload, sort_keys=True, ensure_ascii=False)
    typer.echo(f"received {reply.type} {reply.message_id} {body}")
