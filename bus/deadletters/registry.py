"""Which dead-letter queues a namespace has, as the runtimes that declared them said.

Plain AMQP cannot list queues (RabbitMQ's management API can, but it may not be
enabled), so a runtime records its dead-letter queues when it declares them: in the
namespace's registry queue, `{namespace}.dead-letter-queues`, a durable queue nobody
consumes, one message per recording (a JSON list of queue names). A runtime that would
add no name records nothing, so the registry grows only with new dead-letter queues.
The tooling browses the registry (which leaves it as it is) and keeps the queues that
still exist; a recorded queue deleted since simply drops out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson

from bus.settings import QueueType
from bus.wire.topology import DEFAULT_EXCHANGE, Names, QueueSpec, Topology
from bus.wire.transport import Outcome, Publication, Transport, WireMessage

RECORD_TYPE = "sagabus.DeadLetterQueues"
"""The message type of a recording."""

MAX_RECORDINGS = 10_000
"""Recordings read at the most."""


def registry_queue(names: Names) -> str:
    return f"{names.namespace}.dead-letter-queues"


def registry_topology(names: Names, queue_type: QueueType) -> Topology:
    """The registry queue, declared with the rest of a runtime's topology."""
    return Topology(queues=(QueueSpec(registry_queue(names), queue_type),))


async def record(transport: Transport, names: Names, queues: Sequence[str]) -> bool:
    """Records `queues` unless every one is recorded already; True when it wrote.
    The registry queue must be declared (`registry_topology`)."""
    new = sorted(set(queues) - set(await recorded(transport, names)))
    if not new:
        return False
    message = WireMessage(
        body=orjson.dumps(new),
        message_id=str(uuid.uuid4()),
        type=RECORD_TYPE,
        content_type="application/json",
    )
    [outcome] = await transport.publish(
        [Publication(DEFAULT_EXCHANGE, registry_queue(names), message)]
    )
    return outcome is Outcome.CONFIRMED


async def recorded(transport: Transport, names: Names) -> list[str]:
    """Every queue name recorded in the namespace's registry (none when there is no
    registry yet), in the order first recorded."""
    queue = registry_queue(names)
    if await transport.depth(queue) is None:
        return []
    found: dict[str, None] = {}
    for message in await transport.browse(queue, MAX_RECORDINGS):
        found.update(dict.fromkeys(_names(message, names)))
    return list(found)


def _names(message: WireMessage, names: Names) -> list[str]:
    """The queue names of one recording; anything else in the registry is ignored."""
    if message.type != RECORD_TYPE:
        return []
    try:
        value = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        return []
    prefix = f"{names.namespace}."
    if not isinstance(value, list):
        return []
    return [q for q in value if isinstance(q, str) and q.startswith(prefix)]
