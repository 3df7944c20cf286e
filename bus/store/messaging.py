"""The messaging role of a transaction: the inbox (duplicate deliveries) and the
outbox (messages published after commit)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from bus.wire.envelope import Envelope

BACKLOG_BY_TYPE = "SELECT type, count(*) FROM outbox WHERE sent_at IS NULL GROUP BY type"
"""Unsent outbox rows by message type (the same SQL on every backend)."""


class Messaging(abc.ABC):
    """Inbox and outbox of a unit of work."""

    # -- inbox ---------------------------------------------------------------------
    @abc.abstractmethod
    async def inbox_add(self, endpoint: str, message_id: str) -> bool:
        """Records the delivery; False when `(endpoint, message_id)` was seen before."""

    async def inbox_add_many(self, endpoint: str, message_ids: Sequence[str]) -> set[str]:
        """Records a batch of deliveries at once; the ids not seen before (an id twice in
        `message_ids` is new once). Stores override this with one statement."""
        return {m for m in message_ids if await self.inbox_add(endpoint, m)}

    @abc.abstractmethod
    async def inbox_purge(self, older_than: datetime) -> int:
        """Deletes inbox rows received before `older_than`; returns how many."""

    # -- outbox --------------------------------------------------------------------
    @abc.abstractmethod
    async def outbox_add(self, envelopes: Sequence[Envelope]) -> list[int]:
        """Queues messages to publish after commit; returns their row ids in order."""

    async def outbox_write(self, envelopes: Sequence[Envelope], sent: Sequence[int]) -> list[int]:
        """`outbox_add(envelopes)` and `outbox_mark_sent(sent)` (rows of earlier units
        of work) in one call: the ids of the new rows, in order. Stores override this
        with fewer statements."""
        ids = await self.outbox_add(envelopes) if envelopes else []
        if sent:
            await self.outbox_mark_sent(sent)
        return ids

    @abc.abstractmethod
    async def outbox_pending(self, limit: int = 500) -> list[tuple[int, Envelope]]:
        """Unsent rows, oldest first (on PostgreSQL rows locked by another relay are
        skipped)."""

    @abc.abstractmethod
    async def outbox_mark_sent(self, ids: Sequence[int]) -> None: ...

    @abc.abstractmethod
    async def outbox_backlog(self) -> int:
        """Number of unsent rows."""

    @abc.abstractmethod
    async def outbox_backlog_by_type(self) -> dict[str, int]:
        """Unsent rows counted by message type (the console sums them per endpoint
        whose queue is bound to the type)."""

    @abc.abstractmethod
    async def outbox_purge(self, sent_before: datetime) -> int:
        """Deletes rows sent before `sent_before` (unsent rows always stay); returns how
        many. Sent rows are kept for a while to show what left; this bounds the table."""
