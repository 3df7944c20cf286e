"""The failure policy of an endpoint: what becomes of a delivery that did not work.

- poison (it cannot be decoded, or no version of its contract reads it) goes to the
  endpoint's `<queue>.dlq` at once: no retry could fix it;
- a handler that raised is retried through the delay tier its retry policy names for
  the attempt, and after the last attempt dead-lettered with the reason; a command a
  saga sent is then also announced to the saga as `CommandFaulted`
  (`bus.unitofwork.faults`);
- a batch that did not commit goes back to the queue after a pause that doubles with
  every failure in a row (`CommitBackoff`).

The pipeline asks; the policy answers with the publication to make and tells the
observer and the log.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

from bus.deadletters import republishing as deadletter
from bus.observability.message_log import saga_fields
from bus.observability.observe import Observer
from bus.unitofwork.faults import fault_publication
from bus.unitofwork.retry import RetryPolicy
from bus.wire.backoff import Backoff
from bus.wire.envelope import Envelope, PoisonMessage
from bus.wire.topology import Names
from bus.wire.transport import Delivery, Publication

COMMIT_BACKOFF = (0.1, 5.0)
"""First and longest pause (seconds) after a batch failed to commit."""


@dataclass(eq=False)
class FailurePolicy:
    """Poison, retry and dead letter for the endpoint `endpoint` consuming `queue`.
    types: the message types it handles (others are counted without a type)."""

    endpoint: str
    _: KW_ONLY
    queue: str
    names: Names
    retry: RetryPolicy
    types: Set[str]
    observer: Observer
    log: Any
    poisoned: int = field(default=0, init=False)
    """Poison messages dead-lettered since start (also counted in their log lines)."""

    def poison(self, delivery: Delivery, poison: PoisonMessage, now: datetime) -> Publication:
        """The dead letter of a delivery no retry could fix."""
        message = delivery.message
        self.poisoned += 1
        known = message.type if message.type in self.types else None
        self.observer.dead_lettered(self.endpoint, known, "poison")
        self.log.warning(
            "poison message dead-lettered",
            reason=poison.reason,
            poison_total=self.poisoned,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
        )
        return self._dead_letter(delivery, f"poison: {poison.reason}", None, now)

    def failure(
        self, delivery: Delivery, envelope: Envelope, error: Exception, now: datetime
    ) -> tuple[list[Publication], bool]:
        """The retry (True), or the dead letter and its fault event (False), of a
        delivery whose handler raised."""
        failures = deadletter.failures(delivery) + 1
        delay = self.retry.delay_after(failures)
        described = f"{type(error).__name__}: {error}"
        fields = {
            "message_id": envelope.message_id,
            "correlation_id": envelope.correlation_id,
            "causation_id": envelope.causation_id,
            "type": envelope.type,
            "attempt": failures,
            "error": described,
            **saga_fields(envelope),
        }
        self.observer.handled(self.endpoint, envelope, "failed")
        if delay is not None:
            self.observer.retried(self.endpoint, envelope, failures)
            self.log.warning("handler failed, retrying", retry_in=delay, **fields)
            tier = self.names.retry(self.queue, delay)
            return [deadletter.retry(delivery, tier_queue=tier, error=error, now=now)], True
        self.observer.dead_lettered(self.endpoint, envelope.type, "failed")
        self.log.error("handler failed for the last time, dead-lettered", **fields)
        reason = f"failed {failures} attempt(s): {described}"
        letter = self._dead_letter(delivery, reason, error, now)
        fault = fault_publication(envelope, described, self.names)
        return ([letter] if fault is None else [letter, fault]), False

    def _dead_letter(
        self, delivery: Delivery, reason: str, error: Exception | None, now: datetime
    ) -> Publication:
        return deadletter.dead_letter(
            delivery,
            dlq=self.names.dlq(self.queue),
            origin_queue=self.queue,
            reason=reason,
            error=error,
            now=now,
        )


class CommitBackoff(Backoff):
    """The pause after a batch failed to commit: `first`, doubled with every failure
    in a row, at most `longest`; a commit that works starts again at `first`."""

    def __init__(self, first: float = COMMIT_BACKOFF[0], longest: float = COMMIT_BACKOFF[1]):
        super().__init__(first, longest)
