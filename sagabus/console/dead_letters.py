"""The broker as the console shows it: each endpoint queue with its ready messages,
its consumers and its dead-letter queue's depth (the overview), and each dead-letter
queue with its letters grouped by reason (the queues page); browsing gives every
message back to its queue. Replaying and purging (for the console's actions) are
`bus.deadletters.operations`'."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from bus.deadletters.operations import NO_ID, DeadLetter, DeadLetterQueues, Replay
from bus.wire.topology import Names, Topology

BROWSE_LIMIT = 100
"""Letters read per queue for one page."""
REPLAY_LIMIT = 1_000
"""Letters looked at for the replay of one reason."""
CONNECT_TIMEOUT = 2.0
"""Seconds a page waits for the broker before saying it cannot be read."""


@dataclass(frozen=True)
class EndpointQueue:
    """An endpoint's queue: ready messages, consumers (None: no such queue) and the
    ready messages of its dead-letter queue (None: it has none); `bound_types`: the
    message types routed to it (commands it handles, events it subscribes to)."""

    queue: str
    depth: int | None
    consumers: int | None
    dead_letters: int | None
    bound_types: frozenset[str] = frozenset()

    def in_outbox(self, backlog_by_type: Mapping[str, int]) -> int:
        """Messages for this queue still waiting in the outbox, of `backlog_by_type`
        (an event for several queues counts for each)."""
        return sum(backlog_by_type.get(t, 0) for t in self.bound_types)


def bound_types(topology: Topology) -> dict[str, frozenset[str]]:
    """The message types each queue of `topology` is bound to, by queue name."""
    return {q.name: frozenset(b.routing_key for b in q.bindings)
            for q in topology.queues if q.bindings}  # fmt: skip


@dataclass(frozen=True)
class QueueLetters:
    queue: str
    depth: int | None
    """None when the queue does not exist."""
    letters: list[DeadLetter] = field(default_factory=list)

    def reasons(self) -> list[tuple[str, int]]:
        """The letters' reasons, most frequent first."""
        return Counter(letter.reason for letter in self.letters).most_common()


@dataclass(frozen=True)
class BrokerView:
    """What the queues page shows: each endpoint queue with the messages waiting in it
    (None: it does not exist), and each dead-letter queue with its letters."""

    queues: list[EndpointQueue]
    dead_letters: list[QueueLetters]


class DeadLetterSource(Protocol):
    async def read(self) -> BrokerView: ...

    async def endpoints(self) -> list[EndpointQueue]: ...

    def dead_letter_queue_names(self) -> list[str]: ...

    async def replay(
        self, queue: str, *, message_id: str | None = None, reason: str | None = None
    ) -> Replay: ...

    async def purge(self, queue: str) -> int: ...


class BrokerDeadLetters:
    """Reads the endpoint queues `queues` and the dead-letter queues `dead_letter_queues`
    on the broker at `amqp_url`, with a connection of its own per page."""

    def __init__(
        self, amqp_url: str, dead_letter_queues: Sequence[str], queues: Sequence[str] = (),
        bindings: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """`bindings`: the message types routed to each of `queues` (`bound_types`)."""
        self.amqp_url = amqp_url
        self.names = list(dead_letter_queues)
        self.queue_names = list(queues)
        self.bindings = dict(bindings or {})

    def _queues(self) -> DeadLetterQueues:
        return DeadLetterQueues(self.amqp_url, connect_timeout=CONNECT_TIMEOUT)

    async def endpoints(self) -> list[EndpointQueue]:
        async with self._queues() as box:
            return await self._endpoints(box)

    async def _endpoints(self, box: DeadLetterQueues) -> list[EndpointQueue]:
        found = []
        for name in self.queue_names:
            dlq = Names.dlq(name)
            dead = await box.depth(dlq) if dlq in self.names else None
            found.append(EndpointQueue(name, await box.depth(name), await box.consumers(name),
                                       dead, self.bindings.get(name, frozenset())))  # fmt: skip
        return found

    async def read(self) -> BrokerView:
        letters: list[QueueLetters] = []
        async with self._queues() as box:
            endpoints = await self._endpoints(box)
            for name in self.names:
                depth = await box.depth(name)
                found = await box.browse(name, BROWSE_LIMIT) if depth else []
                letters.append(QueueLetters(name, depth, found))
        return BrokerView(endpoints, letters)

    def dead_letter_queue_names(self) -> list[str]:
        return list(self.names)

    async def replay(
        self, queue: str, *, message_id: str | None = None, reason: str | None = None
    ) -> Replay:
        """Replays the letter `message_id`, or every letter of `reason` (among the
        first `REPLAY_LIMIT`), or, given neither, the whole queue."""
        async with DeadLetterQueues(self.amqp_url) as box:
            if message_id is not None or reason is None:
                return await box.replay(queue, message_id=message_id)
            found = await box.browse(queue, REPLAY_LIMIT)
            ids = dict.fromkeys(d.id for d in found if d.reason == reason and d.id != NO_ID)
            result = Replay()
            for one in ids:
                part = await box.replay(queue, message_id=one)
                result.replayed.extend(part.replayed)
                result.kept.extend(part.kept)
            return result

    async def purge(self, queue: str) -> int:
        async with DeadLetterQueues(self.amqp_url) as box:
            return await box.purge(queue)


def age_text(letter: DeadLetter, now: datetime | None = None) -> str:
    seconds = letter.age(now or datetime.now(UTC))
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
