"""`DeadLetter`: a message lying in a dead-letter queue (or parked as unroutable), and
what its headers say about its death. The one view of a dead letter, for the operator
tooling (`sagabus dlq`) and the test harness alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bus.deadletters import republishing as deadletter
from bus.errors import SagabusError
from bus.wire.envelope import Envelope
from bus.wire.topology import DEFAULT_EXCHANGE
from bus.wire.transport import Delivery, WireMessage

REPLAYS = "x-replays"
"""How many times a message was replayed from a dead-letter queue."""
PARKED_AT = "x-parked-at"
"""Set by the outbox relay on a command parked in `{namespace}.unroutable`."""

NO_ID = "-"
"""Shown for a dead letter without a message_id (such poison can be replayed with
`--all` only)."""


class NotReplayable(SagabusError):
    """A dead letter that says neither its origin queue nor where it was published."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message in a dead-letter queue: where it sits and what it carries."""

    queue: str
    message: WireMessage

    @property
    def id(self) -> str:
        """The message_id, or `NO_ID` (for display)."""
        return self.message.message_id or NO_ID

    @property
    def message_id(self) -> str | None:
        return self.message.message_id

    @property
    def type(self) -> str | None:
        return self.message.type

    @property
    def headers(self) -> Mapping[str, Any]:
        return self.message.headers

    @property
    def reason(self) -> str:
        return _text(self.message.headers.get(deadletter.REASON)) or "(no reason given)"

    @property
    def attempts(self) -> int:
        """Failed runs of the handler (0 for poison and unroutable messages)."""
        return _count(self.message.headers.get(deadletter.ATTEMPTS))

    @property
    def replays(self) -> int:
        return _count(self.message.headers.get(REPLAYS))

    @property
    def exception_type(self) -> str | None:
        return _text(self.message.headers.get(deadletter.EXCEPTION_TYPE))

    @property
    def died_at(self) -> datetime | None:
        """When it was dead-lettered (or parked), else when it was first published."""
        for name in (deadletter.LAST_FAILURE, PARKED_AT):
            moment = _instant(self.message.headers.get(name))
            if moment is not None:
                return moment
        return self.message.timestamp

    def age(self, now: datetime) -> float | None:
        """Seconds since `died_at`."""
        died = self.died_at
        return None if died is None else max(0.0, (now - died).total_seconds())

    def envelope(self) -> Envelope:
        """The message decoded; raises `PoisonMessage` for one that cannot be."""
        return Delivery(self.message, "", self.queue, False, None).envelope()

    def destination(self) -> tuple[str, str]:
        """(exchange, routing key) a replay publishes to; raises `NotReplayable`."""
        headers = self.message.headers
        origin = _text(headers.get(deadletter.ORIGIN_QUEUE))
        if origin:
            return DEFAULT_EXCHANGE, origin
        exchange = _text(headers.get(deadletter.ORIGINAL_EXCHANGE))
        key = _text(headers.get(deadletter.ORIGINAL_ROUTING_KEY))
        if exchange and key:
            return exchange, key
        raise NotReplayable(
            f"dead letter {self.id} in {self.queue} names no origin queue and no original"
            " exchange: it cannot be replayed"
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
