"""Scheduled sends on the wire: a message to deliver later travels inside a command.

`ctx.send(cmd, delay=30)` and `client.send(cmd, at=moment)` do not hold the message
anywhere volatile: they send `sagabus.ScheduleMessage` (a command, so it must reach a
queue) carrying the whole envelope and its due time. The scheduler endpoint of the
daemon (`bus.unitofwork.scheduled`) stores it durably and releases it through the
outbox when it is due, with its own message_id, so a released message is delivered
exactly once in effect (inbox de-duplication downstream). This module is pure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bus.wire.contracts import Command, MessageKind
from bus.wire.envelope import Envelope, utcnow

SCHEDULE_TYPE = "sagabus.ScheduleMessage"


class ScheduledEnvelope(BaseModel):
    """An `Envelope` as data: every field, so it is sent as it was built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(min_length=1)
    kind: MessageKind
    payload: dict[str, Any]
    message_id: str = Field(min_length=1)
    correlation_id: str | None = None
    causation_id: str | None = None
    timestamp: AwareDatetime
    version: int = Field(default=1, ge=1)
    traceparent: str | None = None
    headers: dict[str, Any] = Field(default_factory=dict)


class ScheduleMessage(Command):
    """Deliver `envelope` at `due` (timezone-aware: a naive time is refused)."""

    __message_type__ = SCHEDULE_TYPE

    due: AwareDatetime
    envelope: ScheduledEnvelope


def due_time(
    *, delay: float | timedelta | None, at: datetime | None, now: datetime | None = None
) -> datetime | None:
    """When a message given `delay` (seconds or a timedelta) or `at` is due; None when
    neither is given. An `at` must be timezone-aware."""
    if delay is not None and at is not None:
        raise ValueError("give delay or at, not both")
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"at={at.isoformat()} is naive: give a timezone-aware datetime")
        return at
    if delay is None:
        return None
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0:
        raise ValueError(f"delay must not be negative, not {seconds}")
    return (now or utcnow()) + timedelta(seconds=seconds)


def encode(envelope: Envelope) -> dict[str, Any]:
    """The envelope as JSON-ready data (every field, so it is sent as it was built)."""
    return {
        "type": envelope.type,
        "kind": envelope.kind,
        "payload": envelope.payload,
        "message_id": envelope.message_id,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "timestamp": envelope.timestamp.isoformat(),
        "version": envelope.version,
        "traceparent": envelope.traceparent,
        "headers": envelope.headers,
    }


def decode(data: dict[str, Any]) -> Envelope:
    return Envelope(
        type=data["type"],
        kind=data["kind"],
        payload=data["payload"],
        message_id=data["message_id"],
        correlation_id=data.get("correlation_id"),
        causation_id=data.get("causation_id"),
        timestamp=datetime.fromisoformat(data["timestamp"]),
        version=int(data.get("version", 1)),
        traceparent=data.get("traceparent"),
        headers=dict(data.get("headers") or {}),
    )


def scheduled(envelope: Envelope, due: datetime) -> Envelope:
    """The `ScheduleMessage` command that has `envelope` sent at `due`. It shares the
    envelope's correlation, causation and trace, so it is part of the same conversation."""
    request = Envelope.of(
        ScheduleMessage(due=due, envelope=ScheduledEnvelope.model_validate(encode(envelope))),
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        traceparent=envelope.traceparent,
    )
    return request
