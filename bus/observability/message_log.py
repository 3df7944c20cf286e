"""The log observer: one debug line per handled message, with the ids that tie it to
its conversation.

The pipeline writes a warning of its own for each failure, retry and dead letter
(with the same ids); the saga engine logs starts, finishes and parkings at info and
each step at debug. Every bus runs a `MessageLog` (bus/unitofwork/runtime.py); at the usual
`info` level its lines are filtered out before they are built.
"""

from __future__ import annotations

from typing import Any

from bus.observability.logging import get_logger
from bus.observability.observe import HandledOutcome, Observer
from bus.wire.envelope import Envelope

log = get_logger("sagabus.pipeline")


class MessageLog(Observer):
    """`message handled` / `duplicate skipped` at debug, after the unit committed."""

    def handled(self, endpoint: str, envelope: Envelope, outcome: HandledOutcome) -> None:
        if outcome == "failed":
            return
        log.debug(
            "message handled" if outcome == "success" else "duplicate skipped",
            endpoint=endpoint,
            type=envelope.type,
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
            **saga_fields(envelope),
        )


def saga_fields(envelope: Envelope) -> dict[str, Any]:
    """`saga` and `state` of a message a saga sent (the engine stamps them in its
    headers), for log lines; empty for any other message."""
    saga = envelope.headers.get("saga")
    if saga is None:
        return {}
    return {"saga": saga, "state": envelope.headers.get("saga_state")}
