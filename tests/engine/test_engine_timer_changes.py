"""A step's timer effects become one cancel list and one arm list: each name's last
effect wins, a timer cancelled and armed again is only armed (the arm replaces it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bus.store.base import SagaRecord
from saga_dsl import ArmTimer, CancelTimer, EventInput, SagaInstance
from saga_dsl.engine.recording import Cause, timer_changes
from saga_dsl.machine import Step

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_each_timer_name_ends_as_its_last_effect_says() -> None:
    record = SagaRecord(id="i-1", saga="s", definition_version=1, correlation="c", state="a")
    step = Step(
        SagaInstance(state="b", status="running", data={}),
        [
            CancelTimer("retry:a:1:1"),
            CancelTimer("again"),
            ArmTimer("again", timedelta(seconds=5)),
            ArmTimer("dropped", timedelta(seconds=1)),
            CancelTimer("dropped"),
            ArmTimer("timeout:b:1", timedelta(seconds=30)),
        ],
        True,
        "a",
        "b",
    )
    cause = Cause(EventInput("E", {}, "m-1"), "m-1", "00-trace-span-01")
    cancel, arm = timer_changes(record, step, cause, NOW)
    assert sorted(cancel) == ["dropped", "retry:a:1:1"]
    assert [(t.name, t.due_at, t.payload) for t in arm] == [
        ("again", NOW + timedelta(seconds=5), {"traceparent": "00-trace-span-01"}),
        ("timeout:b:1", NOW + timedelta(seconds=30), {"traceparent": "00-trace-span-01"}),
    ]
    assert all(t.instance_id == "i-1" and t.saga == "s" for t in arm)
