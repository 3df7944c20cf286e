"""Where failed deliveries go: a retry tier, or the dead-letter queue with the reason.

Both are republications of the original message (same body, same message_id, same
properties) with headers that tell its story. The names of those headers are part of
the wire contract: dead-letter tooling reads them.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from datetime import datetime

from bus.wire.topology import DEFAULT_EXCHANGE
from bus.wire.transport import Delivery, Publication, WireMessage

ATTEMPTS = "x-attempts"
"""How many times the handler failed on this message so far."""
FIRST_FAILURE = "x-first-failure"
LAST_FAILURE = "x-last-failure"
"""ISO-8601 UTC times of the first and the latest failure."""
EXCEPTION_TYPE = "x-exception-type"
EXCEPTION_MESSAGE = "x-exception-message"
TRACEBACK = "x-traceback"
ORIGINAL_EXCHANGE = "x-original-exchange"
ORIGINAL_ROUTING_KEY = "x-original-routing-key"
"""Where the message was first published (a retried message comes back through the
default exchange, so its delivery no longer says)."""
ORIGIN_QUEUE = "x-origin-queue"
"""The queue a dead letter came from: where a replay sends it back."""
REASON = "x-reason"
"""One line: why the message is a dead letter."""

BROKER_HEADERS = frozenset({"x-death", "x-first-death-exchange", "x-first-death-queue",
                            "x-first-death-reason", "x-last-death-exchange",
                            "x-last-death-queue", "x-last-death-reason"})
"""Headers RabbitMQ adds on dead-lettering; they grow with every retry, so they are
dropped on republication (ours say the same, once)."""

MAX_TRACEBACK = 8_000
"""Characters of traceback kept in a dead letter (its end: the innermost frames)."""


MAX_ATTEMPTS = 1_000_000
"""Ceiling of a recorded failure count: the header comes from the wire, so a forged
one (negative, infinite, past 64 bits) must neither break a retry nor its republication."""


def failures(delivery: Delivery) -> int:
    """Failed runs recorded on this delivery so far (0 to `MAX_ATTEMPTS`)."""
    value = delivery.message.headers.get(ATTEMPTS, 0)
    try:
        count = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(max(count, 0), MAX_ATTEMPTS)


def retry(delivery: Delivery, *, tier_queue: str, error: BaseException, now: datetime
          ) -> Publication:
    """The delivery republished to a retry tier after one more failed run."""
    return Publication(DEFAULT_EXCHANGE, tier_queue, _republished(delivery, error, now, None))


def dead_letter(
    delivery: Delivery,
    *,
    dlq: str,
    origin_queue: str,
    reason: str,
    error: BaseException | None,
    now: datetime,
) -> Publication:
    """The delivery republished to `dlq`; `error` is None for poison (it never ran)."""
    message = _republished(delivery, error, now, reason)
    headers = dict(message.headers)
    headers[ORIGIN_QUEUE] = origin_queue
    return Publication(DEFAULT_EXCHANGE, dlq, replace(message, headers=headers))


def _republished(delivery: Delivery, error: BaseException | None, now: datetime,
                 reason: str | None) -> WireMessage:
    headers = {k: v for k, v in delivery.message.headers.items() if k not in BROKER_HEADERS}
    stamp = now.isoformat()
    headers.setdefault(ORIGINAL_EXCHANGE, delivery.exchange)
    headers.setdefault(ORIGINAL_ROUTING_KEY, delivery.routing_key)
    if error is not None:
        headers[ATTEMPTS] = failures(delivery) + 1
        headers.setdefault(FIRST_FAILURE, stamp)
        headers[LAST_FAILURE] = stamp
        headers[EXCEPTION_TYPE] = _qualified_name(error)
        headers[EXCEPTION_MESSAGE] = str(error)[:2_000]
        headers[TRACEBACK] = _traceback(error)
    else:
        headers.setdefault(ATTEMPTS, failures(delivery))
        headers.setdefault(FIRST_FAILURE, stamp)
        headers[LAST_FAILURE] = stamp
    if reason is not None:
        headers[REASON] = reason
    return replace(delivery.message, headers=headers)


def _qualified_name(error: BaseException) -> str:
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _traceback(error: BaseException) -> str:
    text = "".join(traceback.format_exception(error))
    return text[-MAX_TRACEBACK:]
