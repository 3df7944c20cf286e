"""The shape of a scenario file, as pydantic models, and its JSON Schema.

A scenario file names one saga and holds scenarios: steps fed to the saga's pure state
machine (an event, a timer that fires, time that passes, or a fault of the bus), each
with what should be true afterwards. These models check keys and types only; what the
values mean (event types the saga listens to, state names) is checked by the loader.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from saga_dsl.schema import Duration, Name, TypeName, Values

SCHEMA_ID = "https://sagabus.dev/scenario.schema.json"

Fault = Literal["duplicate", "stale-timers", "reload"]
"""What the bus may do to a saga: deliver the last event again, fire timers that were
cancelled, or reload the instance from its stored JSON (as a daemon restart does)."""

STATUSES = ("running", "completed", "failed", "parked")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Sent(Strict):
    """A command the step should send: its type and a subset of its payload."""

    command: TypeName
    with_: Values = Field(default_factory=dict, alias="with")


class Published(Strict):
    """An event the step should publish: its type and a subset of its payload."""

    event: TypeName
    with_: Values = Field(default_factory=dict, alias="with")


class Expect(Strict):
    """What should hold after a step; every key is optional."""

    state: Name | None = Field(default=None, description="The state the instance is in.")
    status: Literal["running", "completed", "failed", "parked"] | None = None
    accepted: bool | None = Field(
        default=None, description="Whether the machine took the input (false: ignored)."
    )
    data: dict[str, Any] | None = Field(
        default=None, description="A subset of the saga data (nested mappings: subsets too)."
    )
    sent: list[TypeName | Sent] | None = Field(
        default=None,
        description="Every command the step sent, in order: a type, or {command, with}.",
    )
    published: list[TypeName | Published] | None = Field(
        default=None,
        description="Every event the step published, in order: a type, or {event, with}.",
    )
    compensated: list[Name] | None = Field(
        default=None,
        description="The states whose compensation the step ran (sent), in order.",
    )
    reason: str | None = Field(default=None, description="Part of the park reason.")


class Step(Strict):
    """One input: exactly one of `event`, `timer`, `advance` or `fault`."""

    event: TypeName | None = Field(default=None, description="An event delivered to the saga.")
    fixture: Name | None = Field(
        default=None, description="A fixture the event's payload starts from."
    )
    with_: dict[str, Any] | None = Field(
        default=None, alias="with", description="The event's payload (over the fixture's)."
    )
    timer: str | None = Field(
        default=None,
        description="An armed timer fires: timeout, retry, compensate, or its full name.",
    )
    advance: Duration | None = Field(
        default=None, description="Time passes; every timer due meanwhile fires, in order."
    )
    fault: Fault | None = Field(
        default=None,
        description="duplicate (last event again), stale-timers (cancelled timers fire), "
        "reload (the instance goes through its stored JSON).",
    )
    expect: Expect | None = None


class Scenario(Strict):
    """A story told to the saga, step by step; `cases` runs it once per row."""

    name: str = Field(min_length=1)
    description: str | None = None
    cases: list[dict[Name, Any]] | None = Field(
        default=None,
        description="Parameter rows; ${ name } in the steps and the name takes each value.",
    )
    steps: list[Step] = Field(min_length=1)


class ScenarioFile(Strict):
    """A file of scenarios for one saga."""

    model_config = ConfigDict(
        title="sagabus saga scenarios",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    saga: str = Field(
        description="The saga's name (found beside this directory) or its file, relative."
    )
    fixtures: dict[Name, dict[str, Any]] = Field(
        default_factory=dict, description="Named payloads events can start from."
    )
    scenarios: list[Scenario] = Field(min_length=1)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, for editors."""
    schema = ScenarioFile.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": schema.pop("$schema"), "$id": SCHEMA_ID, **schema}


def json_schema_text() -> str:
    """`json_schema()` as the text of `scenario.schema.json`."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
