"""A saga instance: where one run of a saga stands, as an immutable value.

The store keeps `state`, `status` and `data` in columns and the rest of
`to_json()["machine"]` as an opaque JSON document; `from_json` reads the whole back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, cast

Status = Literal["running", "completed", "failed", "parked"]
STATUSES: tuple[Status, ...] = ("running", "completed", "failed", "parked")


@dataclass(frozen=True)
class Compensating:
    """A compensation run in progress.

    `target` is the state entered once it is done; `pending` the completed states
    still to undo, next first; `waiting` the state whose `until` event is awaited and
    `attempt` how many times its compensation was resent so far.
    """

    target: str
    pending: tuple[str, ...]
    waiting: str | None = None
    attempt: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pending": list(self.pending),
            "waiting": self.waiting,
            "attempt": self.attempt,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Compensating:
        return cls(
            target=str(raw["target"]),
            pending=tuple(raw.get("pending", ())),
            waiting=raw.get("waiting"),
            attempt=int(raw.get("attempt", 0)),
        )


@dataclass(frozen=True)
class SagaInstance:
    """One saga run.

    - `state`: the current state (while compensating: the state that was left);
    - `status`: running, completed, failed (a final state was entered) or parked;
    - `data`: the saga data (`saga.x` in expressions), JSON values only;
    - `completed`: states completed, in order of completion;
    - `compensated`: states whose compensation ran, in the order it ran;
    - `timers`: names of the timers armed now;
    - `entries`: how many times a state was entered (makes timer names unique);
    - `retries`: resends done in the current state;
    - `compensating`: the compensation run in progress, if any;
    - `park_reason`: why the instance is parked.
    """

    state: str
    status: Status
    data: dict[str, Any]
    completed: tuple[str, ...] = ()
    compensated: tuple[str, ...] = ()
    timers: tuple[str, ...] = ()
    entries: int = 0
    retries: int = 0
    compensating: Compensating | None = None
    park_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")

    def evolve(self, **changes: Any) -> SagaInstance:
        """A copy with `changes` (dataclasses.replace, minus its cost on the hot path)."""
        unknown = changes.keys() - _FIELDS
        if unknown:
            raise TypeError(f"SagaInstance has no field {sorted(unknown)[0]!r}")
        evolved = object.__new__(SagaInstance)
        evolved.__dict__.update(self.__dict__)
        evolved.__dict__.update(changes)
        return evolved

    def to_json(self) -> dict[str, Any]:
        """`{"state", "status", "data", "machine": {...bookkeeping}}`, all JSON."""
        return {
            "state": self.state,
            "status": self.status,
            "data": self.data,
            "machine": {
                "completed": list(self.completed),
                "compensated": list(self.compensated),
                "timers": list(self.timers),
                "entries": self.entries,
                "retries": self.retries,
                "compensating": self.compensating.to_json() if self.compensating else None,
                "park_reason": self.park_reason,
            },
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SagaInstance:
        """Reads what `to_json` wrote; `machine` may be missing or empty."""
        machine = raw.get("machine") or {}
        status = raw.get("status", "running")
        if status not in STATUSES:
            raise ValueError(f"unknown saga instance status {status!r}")
        compensating = machine.get("compensating")
        return cls(
            state=str(raw["state"]),
            status=cast(Status, status),
            data=dict(raw.get("data") or {}),
            completed=tuple(machine.get("completed", ())),
            compensated=tuple(machine.get("compensated", ())),
            timers=tuple(machine.get("timers", ())),
            entries=int(machine.get("entries", 0)),
            retries=int(machine.get("retries", 0)),
            compensating=Compensating.from_json(compensating) if compensating else None,
            park_reason=machine.get("park_reason"),
        )


_FIELDS = frozenset(f.name for f in fields(SagaInstance))
