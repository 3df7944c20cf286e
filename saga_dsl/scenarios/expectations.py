"""Comparing what a step should have done with what it did, with a readable difference.

Saga data and payloads are compared as subsets (only the keys written are checked,
nested mappings too); lists of commands and events must match in length and order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from saga_dsl.diagnostics import Position
from saga_dsl.effects import Effect, PublishEvent, SendCommand
from saga_dsl.instance import SagaInstance
from saga_dsl.scenarios.model import Published, Sent
from saga_dsl.scenarios.suite import StepSpec


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold: its key, where it is written, both sides."""

    key: str
    at: Position
    expected: str
    actual: str


@dataclass(frozen=True)
class Observed:
    """What a step did: accepted or not, the instance after it, and its effects."""

    accepted: bool
    instance: SagaInstance
    effects: Sequence[Effect]


def compare(step: StepSpec, seen: Observed) -> list[Mismatch]:
    """Every expectation of `step` that `seen` does not meet, in the order written."""
    expect = step.expect
    if expect is None:
        return []
    found: list[Mismatch] = []
    instance = seen.instance

    def check(key: str, expected: Any, actual: Any, holds: bool) -> None:
        if not holds:
            found.append(
                Mismatch(key, step.expect_at.get(key, step.at), _show(expected), _show(actual))
            )

    if expect.state is not None:
        check("state", expect.state, instance.state, expect.state == instance.state)
    if expect.status is not None:
        check("status", expect.status, instance.status, expect.status == instance.status)
    if expect.accepted is not None:
        check("accepted", expect.accepted, seen.accepted, expect.accepted == seen.accepted)
    if expect.data is not None:
        check("data", expect.data, instance.data, contains(instance.data, expect.data))
    if expect.sent is not None:
        _messages(
            check, "sent", expect.sent, [e for e in seen.effects if isinstance(e, SendCommand)]
        )
    if expect.published is not None:
        _messages(
            check,
            "published",
            expect.published,
            [e for e in seen.effects if isinstance(e, PublishEvent)],
        )
    if expect.compensated is not None:
        ran = _compensated(seen.effects)
        check("compensated", expect.compensated, ran, list(expect.compensated) == ran)
    if expect.reason is not None:
        reason = instance.park_reason or ""
        check("reason", expect.reason, reason or None, expect.reason in reason)
    return found


Check = Callable[[str, Any, Any, bool], None]


def _messages(
    check: Check,
    key: str,
    expected: Sequence[str | Sent | Published],
    actual: Sequence[SendCommand | PublishEvent],
) -> None:
    wanted = [_wanted(item) for item in expected]
    holds = len(wanted) == len(actual) and all(
        kind == effect.type and contains(effect.payload, payload)
        for (kind, payload), effect in zip(wanted, actual, strict=True)
    )
    shown_expected = [{kind: payload} if payload else kind for kind, payload in wanted]
    shown_actual = [{effect.type: effect.payload} for effect in actual]
    check(key, shown_expected, shown_actual, holds)


def _wanted(item: str | Sent | Published) -> tuple[str, Mapping[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, Sent):
        return item.command, item.with_
    return item.event, item.with_


def _compensated(effects: Sequence[Effect]) -> list[str]:
    ran: list[str] = []
    for effect in effects:
        compensates = effect.compensates if isinstance(effect, SendCommand | PublishEvent) else None
        if compensates and compensates not in ran:
            ran.append(compensates)
    return ran


def contains(actual: Any, expected: Any) -> bool:
    """Whether `expected` is a subset of `actual`: mappings by key, lists item by item."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return bool(expected == actual)


def _show(value: Any) -> str:
    """Compact JSON with keys as written (sorted would hide the order of a payload)."""
    return json.dumps(value, default=str, ensure_ascii=False)
