"""`sagabus dlq list|show|replay|purge`: the dead letters of a namespace.

Without a QUEUE, the commands look at every dead-letter queue of the namespace: those
the runtimes recorded when they declared them (`bus.deadletters.registry`, so a service
this command does not know is found too), the DLQ of every endpoint the daemon would
serve (the services of `--handlers` and the sagas of `--sagas`, by default the
project's, from `[tool.sagabus]`), and the namespace's unroutable queue. A QUEUE may be named
as an endpoint (`payments`), a queue (`t1.payments`) or a DLQ (`payments.dlq`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from bus.deadletters.operations import DeadLetter, DeadLetterQueues, dead_letter_queues, dlq_of
from bus.deadletters.republishing import TRACEBACK
from bus.errors import SagabusError
from bus.observability.logging import configure_logging
from bus.settings import Settings
from bus.unitofwork.runtime import bus_topology
from bus.wire.topology import Names
from sagabus.cli.app import app
from sagabus.cli.options import AmqpUrl, Handlers, Namespace, Sagas
from sagabus.daemon import endpoints_if_any
from sagabus.project import open_project

dlq = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")

Queue = Annotated[
    str | None,
    typer.Argument(metavar="[QUEUE]", help="Endpoint, queue or DLQ (default: all of them)."),
]
QueueOption = Annotated[
    str | None, typer.Option("--queue", help="Endpoint, queue or DLQ (default: all of them).")
]


class NothingFound(SagabusError):
    """No dead letter matched."""


@dlq.command("list")
def list_(
    queue: Queue = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Per queue, at most.")] = 100,
    handlers: Handlers = None,
    sagas: Sagas = None,
    amqp_url: AmqpUrl = None,
    namespace: Namespace = None,
) -> None:
    """List dead letters: id, type, reason, attempts, age."""
    settings, target = _prepare(queue, handlers, sagas, amqp_url, namespace)

    async def go() -> list[tuple[str, int, list[DeadLetter]]]:
        found = []
        async with DeadLetterQueues(settings.amqp_url) as box:
            for name in await target.queues(box):
                depth = await box.depth(name)
                if depth:
                    found.append((name, depth, await box.browse(name, limit)))
        return found

    found = asyncio.run(go())
    console = Console(width=160)
    if not found:
        console.print("no dead letters")
        return
    now = datetime.now(UTC)
    for name, depth, letters in found:
        shown = f"{len(letters)} of {depth}" if len(letters) < depth else str(depth)
        table = Table(title=f"{name}: {shown}", title_justify="left")
        for column in ("id", "type", "reason", "attempts", "replays", "age"):
            table.add_column(column, overflow="fold")
        for letter in letters:
            table.add_row(
                letter.id, letter.type or "?", letter.reason, str(letter.attempts),
                str(letter.replays), _age(letter.age(now)),
            )
        console.print(table)


@dlq.command()
def show(
    message_id: Annotated[str, typer.Argument(metavar="ID", help="The message_id.")],
    queue: QueueOption = None,
    handlers: Handlers = None,
    sagas: Sagas = None,
    amqp_url: AmqpUrl = None,
    namespace: Namespace = None,
) -> None:
    """Show a dead letter's headers and body."""
    settings, target = _prepare(queue, handlers, sagas, amqp_url, namespace)

    async def go() -> tuple[list[str], list[DeadLetter]]:
        async with DeadLetterQueues(settings.amqp_url) as box:
            queues = await target.queues(box)
            return queues, await box.find(message_id, queues)

    queues, letters = asyncio.run(go())
    if not letters:
        raise NothingFound(f"no dead letter with id {message_id} in {', '.join(queues)}")
    for letter in letters:
        typer.echo(_describe(letter))


@dlq.command()
def replay(
    message_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="The message_id to replay.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    queue: QueueOption = None,
    handlers: Handlers = None,
    sagas: Sagas = None,
    amqp_url: AmqpUrl = None,
    namespace: Namespace = None,
) -> None:
    """Send dead letters back to where they failed, with a fresh attempt count."""
    if (message_id is None) == (not all_):
        raise typer.BadParameter("name one ID, or --all (not both)")
    settings, target = _prepare(queue, handlers, sagas, amqp_url, namespace)
    queues: list[str] = []

    async def go() -> tuple[int, list[tuple[DeadLetter, str]]]:
        replayed, kept = 0, []
        async with DeadLetterQueues(settings.amqp_url) as box:
            queues.extend(await target.queues(box))
            for name in queues:
                if not await box.depth(name):
                    continue
                done = await box.replay(name, message_id=message_id)
                replayed += len(done.replayed)
                kept.extend(done.kept)
        return replayed, kept

    replayed, kept = asyncio.run(go())
    for letter, problem in kept:
        typer.echo(f"kept {letter.id} in {letter.queue}: {problem}", err=True)
    if message_id is not None and not replayed and not kept:
        raise NothingFound(f"no dead letter with id {message_id} in {', '.join(queues)}")
    typer.echo(f"replayed {replayed}, kept {len(kept)}")
    if kept:
        raise typer.Exit(1)


@dlq.command()
def purge(
    queue: Queue = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    handlers: Handlers = None,
    sagas: Sagas = None,
    amqp_url: AmqpUrl = None,
    namespace: Namespace = None,
) -> None:
    """Delete dead letters for good."""
    settings, target = _prepare(queue, handlers, sagas, amqp_url, namespace)
    if not yes:
        what = target.explicit or f"every dead-letter queue of {target.names.namespace}"
        typer.confirm(f"delete every message of {what}?", abort=True)

    async def go() -> dict[str, int]:
        purged = {}
        async with DeadLetterQueues(settings.amqp_url) as box:
            for name in await target.queues(box):
                if await box.depth(name) is not None:
                    purged[name] = await box.purge(name)
        return purged

    purged = asyncio.run(go())
    for name, count in purged.items():
        if count:
            typer.echo(f"purged {count} from {name}")
    typer.echo(f"purged {sum(purged.values())}")


@dataclass(frozen=True)
class Target:
    """The dead-letter queues a command looks at: the one named, or all of them."""

    names: Names
    explicit: str | None
    known: list[str]

    async def queues(self, box: DeadLetterQueues) -> list[str]:
        if self.explicit is not None:
            return [self.explicit]
        return await box.queues(self.names, self.known)


def _prepare(
    queue: str | None,
    handlers: list[str] | None,
    sagas: Path | None,
    amqp_url: str | None,
    namespace: str | None,
) -> tuple[Settings, Target]:
    project = open_project(
        services=handlers, sagas=sagas, amqp_url=amqp_url, namespace=namespace
    )
    settings = project.bus_settings()
    configure_logging("console", "error")
    names = Names(settings.namespace)
    if queue is not None:
        return settings, Target(names, dlq_of(names, queue), [])
    topology = bus_topology(names, endpoints_if_any(project.config), settings.queue_type)
    return settings, Target(names, None, dead_letter_queues(names, topology))


def _describe(letter: DeadLetter) -> str:
    message = letter.message
    lines = [
        f"id:             {letter.id}",
        f"queue:          {letter.queue}",
        f"type:           {letter.type}",
        f"correlation_id: {message.correlation_id or '-'}",
        f"timestamp:      {message.timestamp.isoformat() if message.timestamp else '-'}",
        f"content_type:   {message.content_type or '-'}",
        "headers:",
    ]
    traceback = None
    for name in sorted(message.headers):
        value = message.headers[name]
        if name == TRACEBACK:
            traceback = _plain(value)
            continue
        lines.append(f"  {name}: {_plain(value)}")
    lines.append("body:")
    lines.append(_body(message.body))
    if traceback:
        lines.append("traceback:")
        lines.append(traceback.rstrip())
    return "\n".join(lines) + "\n"


def _body(body: bytes) -> str:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"  ({len(body)} bytes, not JSON) {body[:2_000]!r}"
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _plain(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
