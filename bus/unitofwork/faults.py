"""Fault events: a command a saga sent was dead-lettered, and the saga hears of it.

When a handler fails a command for the last time, the bus knows at once that the
command will not be carried out. If a saga sent it (the engine stamps `saga` in its
headers and the instance id as its correlation id), the pipeline publishes a
`CommandFaulted` event beside the dead letter, correlated with the saga, so the saga
can react (`on: CommandFaulted`) instead of waiting for its timeout.

The event's id is derived from the command's id: a dead letter published twice (its
batch went back to the queue) makes the same event, which the saga's inbox drops.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from bus.wire.contracts import Event
from bus.wire.envelope import Envelope
from bus.wire.topology import Names
from bus.wire.transport import Publication, WireMessage

FAULT_NAMESPACE = uuid.UUID("0f6c1a52-7d1e-4a55-8d0b-3f1f5b7f2a61")


COMMAND_FAULTED = "CommandFaulted"


class CommandFaulted(Event):
    """A command was dead-lettered: `command` its type, `command_id` its message id,
    `reason` why it failed for good, `saga` the saga that sent it."""

    command: str
    command_id: str
    reason: str
    saga: str


def fault_of(command: Envelope, reason: str) -> Envelope | None:
    """The `CommandFaulted` event of a dead-lettered command a saga sent; None for any
    other message."""
    saga = command.headers.get("saga")
    if command.kind != "command" or saga is None or not command.correlation_id:
        return None
    fault = CommandFaulted(
        command=command.type, command_id=command.message_id, reason=reason, saga=str(saga)
    )
    envelope = Envelope.of(
        fault,
        correlation_id=command.correlation_id,
        causation_id=command.message_id,
        traceparent=command.traceparent,
        headers={"saga": saga},
    )
    fault_id = str(uuid.uuid5(FAULT_NAMESPACE, command.message_id))
    return replace(envelope, message_id=fault_id)


def fault_publication(command: Envelope, error: str, names: Names) -> Publication | None:
    """What the pipeline publishes beside the dead letter of `command` (`error`: why it
    failed): its fault event, if a saga sent it."""
    fault = fault_of(command, error)
    if fault is None:
        return None
    exchange, routing_key, mandatory = names.route(fault)
    return Publication(exchange, routing_key, WireMessage.of(fault), mandatory)
