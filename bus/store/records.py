"""The records the store keeps and hands back, shared by every role and backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

SagaStatus = Literal["running", "completed", "failed", "parked"]


@dataclass(slots=True)
class SagaRecord:
    """A saga instance as stored. `machine` holds the state machine's own bookkeeping
    (completed steps, compensation progress, retry counters) as plain JSON data."""

    id: str
    saga: str
    definition_version: int
    correlation: str
    state: str
    status: SagaStatus = "running"
    data: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    row_version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One step of an instance: the input that came, where it moved, what it caused."""

    instance_id: str
    at: datetime
    input: str
    message_id: str | None
    from_state: str | None
    to_state: str
    effects: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0


@dataclass(frozen=True, slots=True)
class TimerRecord:
    """A durable timer: at `due_at`, `name` fires into instance `instance_id`."""

    instance_id: str
    saga: str
    name: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True, slots=True)
class StepWrites:
    """What one step of an instance writes beside the instance itself: its history row
    and the timers it cancels and arms (of that instance; no name in both)."""

    history: HistoryRecord
    cancel: tuple[str, ...] = ()
    arm: tuple[TimerRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event in the event store. `version` counts within the stream from 1;
    `position` is global and increases with every append."""

    stream_id: str
    version: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    position: int


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append to a stream."""

    type: str
    payload: dict[str, Any]
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectionRecord:
    name: str
    position: int
    status: Literal["running", "parked"] = "running"
    reason: str | None = None
    failures: int = 0
