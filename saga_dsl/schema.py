"""The shape of a saga file, as pydantic models, and its JSON Schema.

These models check keys and types only. What the values mean (expressions, state
names, reachability, message contracts) is checked later, in `definition` and
`checks`. Unknown keys are errors, and scalars are taken strictly: `version: "1"` is
not a number and `compensate: yes` is not a boolean.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from bus.durations import PATTERN as DURATION_PATTERN
from bus.durations import DurationError, parse_saga_duration
from saga_dsl.diagnostics import Report, closest, suggest
from saga_dsl.positioned_yaml import Document

SCHEMA_ID = "https://sagabus.dev/saga.schema.json"

MAX_STATES = 5_000
"""Most states one saga may have; more is refused before anything else is checked."""

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""Saga, state and data names: usable as `saga.<name>` in expressions."""

TYPE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
"""Message type names (contract class names, or their `__message_type__`)."""


def _duration(value: object) -> timedelta:
    try:
        return parse_saga_duration(value)
    except DurationError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, dict) else value


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A number and a unit: ms, s, m, h or d (e.g. 500ms, 1.5s, 5m).",
        }
    ),
]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
TypeName = Annotated[str, Field(pattern=TYPE_PATTERN)]
Values = dict[Name, Any]


def values(key: str, description: str) -> Any:
    """A `key:` mapping of names to literals and ${ expressions }, empty when absent."""
    return Field(default_factory=dict, alias=key, description=description)


PAYLOAD = "The payload: literal values and ${ expressions } over saga and now."


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Send(Strict):
    """A command to send: `{command: ProcessPayment, with: {...}}`."""

    command: TypeName = Field(description="Type name of the command contract.")
    with_: Values = values("with", PAYLOAD)


class Publish(Strict):
    """An event to publish: `{event: OrderCompleted, with: {...}}`."""

    event: TypeName = Field(description="Type name of the event contract.")
    with_: Values = values("with", PAYLOAD)


# Each of these is written either as one mapping or as a list of them.
Sends = Annotated[
    list[Send], BeforeValidator(_one_or_many, json_schema_input_type=Send | list[Send])
]
Publishes = Annotated[
    list[Publish], BeforeValidator(_one_or_many, json_schema_input_type=Publish | list[Publish])
]


class Retry(Strict):
    """Resend the state's commands when no listened-to event arrived in time."""

    attempts: int = Field(ge=1, le=100, description="How many times to resend.")
    after: Duration = Field(description="How long to wait before each resend.")


class Transition(Strict):
    """Where an event leads: an optional guard, data to set, the next state."""

    if_: str | None = Field(
        default=None,
        alias="if",
        description="CEL guard over event, saga and now; the first true transition wins.",
    )
    set_: Values = values("set", "Saga data to set: name -> literal or ${ expression }.")
    goto: Name = Field(description="The state to enter.")
    compensate: bool = Field(
        default=False,
        description="Undo the completed states (reverse order) before entering goto.",
    )


Transitions = Annotated[
    list[Transition],
    BeforeValidator(_one_or_many, json_schema_input_type=Transition | list[Transition]),
]


class Timeout(Strict):
    """What happens when the state has waited too long."""

    after: Duration = Field(description="How long the state may wait, from entering it.")
    set_: Values = values("set", "Saga data to set (expressions see saga and now, not event).")
    goto: Name = Field(description="The state to enter.")
    compensate: bool = Field(
        default=False,
        description="Undo the completed states (reverse order) before entering goto.",
    )


class Compensation(Strict):
    """How to undo a state once it was completed."""

    send: Sends = Field(default_factory=list, description="Command(s) that undo the state.")
    publish: Publishes = Field(default_factory=list, description="Event(s) to publish.")
    until: TypeName | None = Field(
        default=None, description="Event confirming the undo; the saga waits for it."
    )
    retry: Retry | None = Field(
        default=None,
        description="Resend policy while waiting for `until` (default: the state's retry).",
    )


class State(Strict):
    """One state: what entering it does, what it waits for, how to undo it."""

    description: str | None = Field(default=None, description="For people and graphs.")
    send: Sends = Field(default_factory=list, description="Command(s) sent on entering.")
    publish: Publishes = Field(default_factory=list, description="Event(s) published on entering.")
    on: dict[TypeName, Transitions] = Field(
        default_factory=dict,
        description="Event type -> transition, or a list of guarded transitions tried in order.",
    )
    retry: Retry | None = Field(default=None, description="Resend the commands if no event came.")
    timeout: Timeout | None = Field(default=None, description="Give up waiting after a while.")
    compensate: Compensation | None = Field(
        default=None, description="How to undo this state once completed."
    )
    end: Literal["success", "failure"] | None = Field(
        default=None, description="Marks a final state and the saga's outcome."
    )


class Start(Strict):
    """The event that creates an instance, and the data taken from it."""

    on: TypeName = Field(description="Event type that starts a new instance.")
    set_: Values = values("set", "Saga data captured from the start event.")


class AnyState(Strict):
    """Transitions valid in every non-final state."""

    on: dict[TypeName, Transitions] = Field(
        description="Event type -> transition(s), as in a state."
    )


class SagaFile(Strict):
    """A saga definition file."""

    model_config = ConfigDict(
        title="sagabus saga",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    saga: Name = Field(description="The saga's name; unique among the loaded sagas.")
    version: int = Field(ge=1, description="Bump it whenever the file changes.")
    description: str | None = Field(default=None, description="What the saga does.")
    start: Start
    correlate: Name | None = Field(
        default=None,
        description="Payload field naming the instance when an event has no correlation_id.",
    )
    initial: Name = Field(description="The first state.")
    states: dict[Name, State] = Field(min_length=1, description="The states, by name.")
    any_: AnyState | None = Field(
        default=None,
        alias="any",
        description="Transitions that apply in every non-final state.",
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of saga files, for editors and `sagabus schema`."""
    schema = SagaFile.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": schema.pop("$schema"), "$id": SCHEMA_ID, **schema}


def json_schema_text() -> str:
    """`json_schema()` as the text of `saga.schema.json`."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def validate(doc: Document, report: Report) -> SagaFile | None:
    """Checks the document's shape; reports every problem at its position."""
    if not isinstance(doc.data, dict):
        report.error(
            doc.at(()),
            f"a saga file is a mapping (saga:, version:, states:, ...), not {_kind(doc.data)}",
        )
        return None
    states = doc.data.get("states")
    if isinstance(states, dict) and len(states) > MAX_STATES:
        beyond = list(states)[MAX_STATES]
        report.error(
            doc.key_at(("states", beyond)),
            f"{len(states):,} states; a saga may have at most {MAX_STATES:,} (split it)",
        )
        return None
    try:
        return SagaFile.model_validate(doc.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        misspelt = _misspelt_keys(errors)
        for error in errors:
            if error["type"] == "missing" and (error["loc"][:-1], error["loc"][-1]) in misspelt:
                continue
            _report_error(doc, report, error)
        return None


def _misspelt_keys(errors: list[ErrorDetails]) -> set[tuple[tuple[int | str, ...], str]]:
    """(owner, key) of missing keys that an unknown key nearby is a misspelling of."""
    found = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            owner = error["loc"][:-1]
            close = closest(str(error["loc"][-1]), _allowed_keys(owner))
            if close is not None:
                found.add((owner, close))
    return found


def _where(doc: Document, loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in doc.resolve(loc):
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _report_error(doc: Document, report: Report, error: ErrorDetails) -> None:
    loc = error["loc"]
    where = _where(doc, loc) or "file"
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        owner = _where(doc, loc[:-1]) or "the top level"
        report.error(doc.key_at(loc), f"unknown key {key!r} in {owner}{suggest(key, allowed)}")
    elif kind == "missing":
        owner = _where(doc, loc[:-1]) or "the top level"
        report.error(doc.at(loc[:-1]), f"missing key {str(loc[-1])!r} in {owner}")
    elif loc and loc[-1] == "[key]":
        name = str(loc[-2]) if len(loc) > 1 else "?"
        report.error(
            doc.key_at(loc[:-1]), f"{where}: {name!r} is not a valid name: {_message(error)}"
        )
    else:
        report.error(doc.at(loc), f"{where}: {_message(error)}")


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "duration":
        return error["msg"]
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        if pattern == NAME_PATTERN:
            return "expected a name of letters, digits and _ (not starting with a digit)"
        if pattern == TYPE_PATTERN:
            return "expected a message type name such as OrderCreated"
    if kind == "literal_error":
        return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {error['input']!r}"
    msg = error["msg"]
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) else f" (got {_kind(got)})"
    return f"{msg[0].lower()}{msg[1:]}{shown}"


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at `loc` accepts (for "did you mean")."""
    annotation: Any = SagaFile
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [field.alias or name for name, field in candidate.model_fields.items()]
    return []


def _step(annotation: Any, part: int | str) -> Any:
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, field in candidate.model_fields.items():
                if (field.alias or name) == part:
                    return field.annotation
        origin = typing.get_origin(candidate)
        if origin is dict and isinstance(part, str):
            return typing.get_args(candidate)[1]
        if origin is list and isinstance(part, int):
            return typing.get_args(candidate)[0]
    return None


def _candidates(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [c for arg in typing.get_args(annotation) for c in _candidates(arg)]
    return [annotation]
