"""The ping-pong protocol that the raw aio-pika, FastStream and sagabus benchmarks share.

K conversations run at once, each S steps long. A step is one round trip:

    orchestrator --PingCommand--> {ns}.commands (direct) --> queue {ns}.pp_service
    service      --PongEvent----> {ns}.events (topic)    --> queue {ns}.pp_orchestrator
    orchestrator: step < S ? next PingCommand : conversation done

Every implementation sends the same JSON bodies, validates them with the same pydantic
models, keeps the same bookkeeping (`Conversations`) and uses the same durability:
durable queues, persistent messages, publisher confirms, manual acks after the work.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from pydantic import BaseModel

COMMAND = "PingCommand"
EVENT = "PongEvent"
SERVICE = "pp_service"
ORCHESTRATOR = "pp_orchestrator"


class Ping(BaseModel):
    conversation_id: str
    step: int
    order_id: str
    amount: float
    currency: str


class Pong(BaseModel):
    conversation_id: str
    step: int
    order_id: str
    amount: float


def ping(conversation: int, step: int) -> Ping:
    return Ping(
        conversation_id=f"c-{conversation:06d}",
        step=step,
        order_id=f"o-{conversation:06d}",
        amount=42.5,
        currency="EUR",
    )


def pong_for(command: Ping) -> Pong:
    return Pong(
        conversation_id=command.conversation_id,
        step=command.step,
        order_id=command.order_id,
        amount=command.amount,
    )


def next_ping(event: Pong) -> Ping:
    return Ping(
        conversation_id=event.conversation_id,
        step=event.step + 1,
        order_id=event.order_id,
        amount=event.amount,
        currency="EUR",
    )


@dataclass
class Run:
    """One measured run: `steps` round trips in `seconds`, and the latency of each."""

    steps: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


class Conversations:
    """The orchestrator's bookkeeping: when each step's command was decided, when its
    reply came back, and when all K conversations have done S steps."""

    def __init__(self, k: int, s: int) -> None:
        self.k = k
        self.s = s
        self._sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.done = 0
        self.finished = asyncio.Event()
        self.started = 0.0
        self.ended = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def sending(self, conversation_id: str) -> None:
        self._sent_at[conversation_id] = time.perf_counter()

    def replied(self, conversation_id: str, step: int) -> bool:
        """Records the reply to `step`; True when the conversation goes on (its next
        command counts as sent now), False when it is done (or the reply is a copy)."""
        now = time.perf_counter()
        sent = self._sent_at.pop(conversation_id, None)
        if sent is None:
            return False
        self.latencies.append(now - sent)
        if step < self.s:
            self._sent_at[conversation_id] = now
            return True
        self.done += 1
        if self.done == self.k:
            self.ended = now
            self.finished.set()
        return False

    async def wait(self, limit: float) -> Run:
        try:
            await asyncio.wait_for(self.finished.wait(), limit)
        except TimeoutError:
            raise TimeoutError(
                f"only {self.done} of {self.k} conversations finished within {limit:g}s"
            ) from None
        return Run(self.k * self.s, self.ended - self.started, self.latencies)
