"""The outbox relay: moves committed outbox rows to the broker.

Rows reach it three ways: the pipeline hands over the rows it just committed
(`publish`, the fast path: no second read), anyone may `notify()` it after committing
rows of their own (the saga engine's timers), and it sweeps the outbox at start-up and
every `interval` seconds for rows a crash or a broker outage left behind (rows younger
than `SWEEP_MIN_AGE` are left to whoever is publishing them). Each batch is
published with its confirms awaited together, then marked sent. A command that no
queue is bound for is parked in `{namespace}.unroutable` with the reason and marked
sent: it is never retried in a loop, never lost.

Marking rows sent costs a transaction; on the fast path it rides along with the next
unit of work instead (`take_unmarked` / `settle_marks`), and rows nobody picks up
within `MARK_DELAY` are marked by the relay itself. Until then the rows are in flight:
sweeps skip them. A crash in between only means they are sent again at start-up, and
the receivers' inboxes drop the copies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import timedelta

from bus.deadletters.republishing import ORIGINAL_EXCHANGE, ORIGINAL_ROUTING_KEY, REASON
from bus.observability.logging import get_logger
from bus.observability.observe import NO_OBSERVER, Observer
from bus.store.base import Store
from bus.wire.envelope import Envelope, utcnow
from bus.wire.topology import DEFAULT_EXCHANGE, Names
from bus.wire.transport import Outcome, Publication, Transport, WireMessage

Row = tuple[int, Envelope]

log = get_logger("sagabus.outbox")

SWEEP_MIN_AGE = 5.0
"""Seconds a row must have waited before a periodic sweep takes it: younger rows are
being published by whoever committed them (this daemon or another one)."""

MARK_DELAY = 0.05
"""Seconds published rows wait for a unit of work to mark them sent before the relay
marks them in a transaction of its own."""


@dataclass(eq=False)
class OutboxRelay:
    """Publishes the outbox rows of `store` on `transport`, routed by `names`.
    interval: seconds between sweeps when nothing notifies (default 1).
    batch: rows read per sweep step (default 500). observer: told what became of each
    row (bus/observability/observe.py). published / parked count the rows so far."""

    store: Store
    transport: Transport
    names: Names
    _: KW_ONLY
    interval: float = 1.0
    batch: int = 500
    observer: Observer = NO_OBSERVER
    published: int = field(default=0, init=False)
    parked: int = field(default=0, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _in_flight: set[int] = field(default_factory=set, init=False, repr=False)
    _unmarked: list[int] = field(default_factory=list, init=False, repr=False)
    _mark_timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _marking: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _sweep_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def notify(self) -> None:
        """Rows were committed: sweep soon. Cheap, safe to call from any task."""
        self._wake.set()

    async def run(self) -> None:
        """Sweeps at once, then on every notify and every `interval`, until cancelled.
        A notify sweeps everything pending; a periodic sweep only rows older than
        `SWEEP_MIN_AGE`, so it does not race another daemon publishing its own rows."""
        min_age = 0.0
        while True:
            self._wake.clear()
            try:
                await self.drain(min_age=min_age)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("outbox sweep failed", error=str(exc), exc_info=True)
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
                min_age = 0.0
            except TimeoutError:
                min_age = SWEEP_MIN_AGE

    async def drain(self, *, min_age: float = 0.0) -> int:
        """Publishes pending rows (created at least `min_age` seconds ago) until none is
        left or some fail; returns how many were sent."""
        sent_total = 0
        async with self._sweep_lock:
            while True:
                async with self.store.transaction() as tx:
                    pending = await tx.outbox_pending(self.batch)
                cutoff = utcnow() - timedelta(seconds=min_age)
                rows = [
                    r for r in pending
                    if r[0] not in self._in_flight and r[1].timestamp <= cutoff
                ]
                if not rows:
                    return sent_total
                # no transaction stays open while the broker confirms: on SQLite it
                # would stop every writer, for as long as a broker outage lasts
                ids = [r[0] for r in rows]
                self._in_flight.update(ids)
                try:
                    sent, failed = await self._publish(rows)
                    if sent:
                        async with self.store.transaction() as tx:
                            await tx.outbox_mark_sent(sent)
                finally:
                    self._in_flight.difference_update(ids)
                sent_total += len(sent)
                if failed or len(pending) < self.batch:
                    return sent_total

    async def publish(self, rows: Sequence[Row]) -> None:
        """Publishes rows just committed by the caller. Confirmed rows are marked sent
        later (see the module docstring); rows whose publish fails stay pending for the
        next sweep."""
        rows = [r for r in rows if r[0] not in self._in_flight]
        if not rows:
            return
        ids = [r[0] for r in rows]
        self._in_flight.update(ids)
        try:
            sent, failed = await self._publish(rows)
        except Exception as exc:
            log.error("outbox publish failed", error=str(exc), rows=len(rows))
            sent, failed = [], len(rows)
        unsent = set(ids).difference(sent)
        self._in_flight.difference_update(unsent)
        if sent:
            self._unmarked.extend(sent)
            self._schedule_marking()
        if failed:
            self.notify()

    def take_unmarked(self) -> list[int]:
        """Rows published and confirmed but not yet marked sent: the caller marks them
        in its transaction, then calls `settle_marks`."""
        ids, self._unmarked = self._unmarked, []
        return ids

    def settle_marks(self, ids: Sequence[int], *, committed: bool) -> None:
        """After the transaction that marked `ids` ended: forget them, or (rolled back)
        take them back to be marked again."""
        if committed:
            self._in_flight.difference_update(ids)
        elif ids:
            self._unmarked.extend(ids)
            self._schedule_marking()

    async def mark_unmarked(self) -> None:
        """Marks sent, in a transaction of its own, the rows no unit of work took."""
        ids = self.take_unmarked()
        if not ids:
            return
        try:
            async with self.store.transaction() as tx:
                await tx.outbox_mark_sent(ids)
        except Exception as exc:
            log.warning("marking outbox rows sent failed; retrying", error=str(exc))
            self._unmarked.extend(ids)
            self._schedule_marking(self.interval)
        else:
            self._in_flight.difference_update(ids)

    def _schedule_marking(self, delay: float = MARK_DELAY) -> None:
        if self._mark_timer is None:
            self._mark_timer = asyncio.get_running_loop().call_later(delay, self._start_marking)

    def _start_marking(self) -> None:
        self._mark_timer = None
        if not self._unmarked:
            return
        if self._marking is not None and not self._marking.done():
            self._schedule_marking()
            return
        self._marking = asyncio.create_task(self.mark_unmarked(), name="outbox-marks")

    async def close(self) -> None:
        """Marks what is left to mark; the relay can be used again afterwards."""
        if self._mark_timer is not None:
            self._mark_timer.cancel()
            self._mark_timer = None
        if self._marking is not None:
            await asyncio.gather(self._marking, return_exceptions=True)
            self._marking = None
        await self.mark_unmarked()

    async def _publish(self, rows: Sequence[Row]) -> tuple[list[int], int]:
        """Publishes `rows`; returns the ids now sent (or parked) and how many failed."""
        publications = [self._publication(env) for _, env in rows]
        outcomes = await self.transport.publish(publications)
        sent: list[int] = []
        returned: list[tuple[int, Publication]] = []
        failed = 0
        for (row_id, envelope), publication, outcome in zip(
            rows, publications, outcomes, strict=True
        ):
            if outcome is Outcome.CONFIRMED:
                sent.append(row_id)
                self.observer.published(envelope, "confirmed")
            elif outcome is Outcome.RETURNED:
                returned.append((row_id, publication))
            else:
                failed += 1
                self.observer.published(envelope, "failed")
        if returned:
            envelopes = dict(rows)
            parked = await self.transport.publish([self._parked(p) for _, p in returned])
            for (row_id, publication), outcome in zip(returned, parked, strict=True):
                if outcome is Outcome.CONFIRMED:
                    sent.append(row_id)
                    self.parked += 1
                    self.observer.published(envelopes[row_id], "parked")
                    log.warning(
                        "unroutable command parked",
                        type=publication.routing_key,
                        message_id=publication.message.message_id,
                        correlation_id=publication.message.correlation_id,
                        queue=self.names.unroutable,
                    )
                else:
                    failed += 1
                    self.observer.published(envelopes[row_id], "failed")
        self.published += len(sent)
        return sent, failed

    def _publication(self, envelope: Envelope) -> Publication:
        exchange, routing_key, mandatory = self.names.route(envelope)
        return Publication(exchange, routing_key, WireMessage.of(envelope), mandatory)

    def _parked(self, publication: Publication) -> Publication:
        headers = dict(publication.message.headers)
        headers[REASON] = (
            f"unroutable: no queue is bound for {publication.routing_key}"
            f" on {publication.exchange}"
        )
        headers[ORIGINAL_EXCHANGE] = publication.exchange
        headers[ORIGINAL_ROUTING_KEY] = publication.routing_key
        headers["x-parked-at"] = utcnow().isoformat()
        return Publication(
            DEFAULT_EXCHANGE,
            self.names.unroutable,
            replace(publication.message, headers=headers),
        )
