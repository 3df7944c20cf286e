"""What goes into the state machine (inputs) and what comes out (effects).

The machine does no I/O. The saga engine feeds it `EventInput` and `TimerFired`,
then carries out the effects in the same store transaction that saves the instance:
`SendCommand`/`PublishEvent` become outbox rows, `ArmTimer`/`CancelTimer` durable
timers, `Finished`/`Parked` the end of the instance's story (and a log line and metric).
Every effect has `to_json()` for the instance's history rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Literal

__all__ = [
    "ArmTimer",
    "CancelTimer",
    "Effect",
    "EventInput",
    "Finished",
    "Input",
    "Parked",
    "PublishEvent",
    "SendCommand",
    "TimerFired",
]


@dataclass(frozen=True)
class EventInput:
    """An event delivered to an instance: its type name and JSON payload."""

    type: str
    payload: Mapping[str, Any]
    message_id: str | None = None


@dataclass(frozen=True)
class TimerFired:
    """A timer armed by `ArmTimer(name, ...)` has come due."""

    name: str


Input = EventInput | TimerFired


@dataclass(frozen=True)
class OutgoingMessage:
    """A message the saga sends out: its type, its payload and the state it undoes, if
    any; `SendCommand` and `PublishEvent` say which kind."""

    type: str
    payload: dict[str, Any]
    compensates: str | None = None
    effect: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "type": self.type,
            "payload": self.payload,
            "compensates": self.compensates,
        }


@dataclass(frozen=True)
class SendCommand(OutgoingMessage):
    """Send command `type`; `compensates` names the state it undoes, if any."""

    effect: ClassVar[str] = "send"


@dataclass(frozen=True)
class PublishEvent(OutgoingMessage):
    """Publish event `type`; `compensates` names the state it undoes, if any."""

    effect: ClassVar[str] = "publish"


@dataclass(frozen=True)
class ArmTimer:
    """Deliver `TimerFired(name)` after `after`. Names are never reused by an instance."""

    name: str
    after: timedelta

    def to_json(self) -> dict[str, Any]:
        return {"effect": "arm_timer", "name": self.name, "after": self.after.total_seconds()}


@dataclass(frozen=True)
class CancelTimer:
    """The timer `name` is no longer wanted (firing it anyway is harmless: it is ignored)."""

    name: str

    def to_json(self) -> dict[str, Any]:
        return {"effect": "cancel_timer", "name": self.name}


@dataclass(frozen=True)
class Finished:
    """The instance entered a final state."""

    outcome: Literal["success", "failure"]

    def to_json(self) -> dict[str, Any]:
        return {"effect": "finished", "outcome": self.outcome}


@dataclass(frozen=True)
class Parked:
    """The instance stopped and waits for a human; `reason` says why."""

    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"effect": "parked", "reason": self.reason}


Effect = SendCommand | PublishEvent | ArmTimer | CancelTimer | Finished | Parked
