"""AMQP messages and queues as the RabbitMQ transport writes and reads them: queue
arguments of a `QueueSpec`, a `Delivery` of a received message, the `Outcome` of a
publish. (A publish's frames, properties included, are `bus.wire.amqp_encoding`'s.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from bus.wire.topology import QueueSpec
from bus.wire.transport import Delivery, Outcome, WireMessage


def queue_arguments(queue: QueueSpec) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    if queue.queue_type == "quorum":
        arguments["x-queue-type"] = "quorum"
    if queue.message_ttl is not None:
        arguments["x-message-ttl"] = round(queue.message_ttl * 1000)
    if queue.expires is not None:
        arguments["x-expires"] = max(1, round(queue.expires * 1000))
    if queue.dead_letter_to is not None:
        arguments["x-dead-letter-exchange"] = ""
        arguments["x-dead-letter-routing-key"] = queue.dead_letter_to
        if queue.queue_type == "quorum":
            # quorum queues dead-letter at most once unless told otherwise
            arguments["x-dead-letter-strategy"] = "at-least-once"
            arguments["x-overflow"] = "reject-publish"
    return arguments


def delivery_of(message: DeliveredMessage, token: Any) -> Delivery:
    props = message.header.properties
    timestamp = props.timestamp
    if timestamp is not None and timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return Delivery(
        message=WireMessage(
            body=message.body,
            message_id=props.message_id,
            type=props.message_type,
            correlation_id=props.correlation_id,
            timestamp=timestamp if isinstance(timestamp, datetime) else None,
            headers=props.headers or {},  # a fresh dict of this frame's decoding
            content_type=props.content_type,
        ),
        exchange=message.exchange or "",
        routing_key=message.routing_key or "",
        redelivered=bool(getattr(message.delivery, "redelivered", False)),
        token=token,
    )


def outcome(result: Any) -> Outcome:
    if isinstance(result, spec.Basic.Ack):
        return Outcome.CONFIRMED
    if isinstance(result, DeliveredMessage):
        return Outcome.RETURNED
    return Outcome.FAILED
