"""The checked definition of a saga: the schema model with every expression compiled
and every piece placed in its file.

`build` turns a validated `SagaFile` into a `SagaDefinition`, compiling each `${ }` and
`if:` once and reporting, at its position, every expression that does not compile or
reads `event` where no event is at hand (entry actions, compensations and timeouts run
without one: copy what they need into saga data with `set`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from saga_dsl.diagnostics import Position, Report
from saga_dsl.expressions import (
    Expression,
    ExpressionError,
    ListTemplate,
    MappingTemplate,
    Template,
    compile_expression,
    compile_text,
)
from saga_dsl.expressions import Literal as LiteralValue
from saga_dsl.positioned_yaml import Document, Loc
from saga_dsl.schema import Compensation, Publish, SagaFile, Send, State, Timeout, Transition

DEFAULT_COMPENSATION_RETRY_ATTEMPTS = 3
DEFAULT_COMPENSATION_RETRY_AFTER = timedelta(seconds=30)
"""How a compensation waiting for `until` is resent when neither it nor its state says."""

MAX_EXPRESSIONS = 10_000
"""Most expressions in one saga (a 1,000-state saga has about 5,000)."""

Outcome = Literal["success", "failure"]


@dataclass(frozen=True)
class RetryPolicy:
    """Resend up to `attempts` times, waiting `after` before each resend."""

    attempts: int
    after: timedelta


DEFAULT_COMPENSATION_RETRY = RetryPolicy(
    DEFAULT_COMPENSATION_RETRY_ATTEMPTS, DEFAULT_COMPENSATION_RETRY_AFTER
)


@dataclass(frozen=True)
class Action:
    """A command to send or an event to publish, with its payload template."""

    kind: Literal["command", "event"]
    type: str
    payload: Template
    fields: Mapping[str, Position]
    at: Position


@dataclass(frozen=True)
class Assignment:
    """`set: {name: value}`: one piece of saga data written by a transition."""

    name: str
    value: Template
    at: Position


@dataclass(frozen=True)
class TransitionDefinition:
    """An edge: from `source` (None for `any:`) on `event` (None for a timeout)."""

    source: str | None
    event: str | None
    guard: Expression | None
    assignments: tuple[Assignment, ...]
    goto: str
    compensate: bool
    at: Position
    goto_at: Position
    compensate_at: Position


@dataclass(frozen=True)
class TimeoutDefinition:
    after: timedelta
    transition: TransitionDefinition


@dataclass(frozen=True)
class CompensationDefinition:
    """How a completed state is undone; `until` is the confirming event, if awaited."""

    actions: tuple[Action, ...]
    until: str | None
    retry: RetryPolicy
    at: Position
    until_at: Position


@dataclass(frozen=True)
class StateDefinition:
    name: str
    description: str | None
    entry: tuple[Action, ...]
    on: Mapping[str, tuple[TransitionDefinition, ...]]
    retry: RetryPolicy | None
    timeout: TimeoutDefinition | None
    compensation: CompensationDefinition | None
    end: Outcome | None
    at: Position
    keys: Mapping[str, Position] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.end is not None

    def transitions(self) -> Iterator[TransitionDefinition]:
        """Every edge out of this state, timeout last (without `any:`)."""
        for options in self.on.values():
            yield from options
        if self.timeout is not None:
            yield self.timeout.transition


@dataclass(frozen=True)
class ExpressionUse:
    """Where an expression runs: the event type in scope (None: no event)."""

    expression: Expression
    event: str | None


@dataclass(frozen=True)
class SagaDefinition:
    """A saga file that passed every check; `saga_dsl.compile` turns it into a Machine."""

    name: str
    version: int
    description: str | None
    file: str
    digest: str
    start_event: str
    start_assignments: tuple[Assignment, ...]
    start_at: Position
    correlate: str | None
    correlate_at: Position
    initial: str
    initial_at: Position
    states: Mapping[str, StateDefinition]
    states_at: Position
    any_on: Mapping[str, tuple[TransitionDefinition, ...]]
    expressions: tuple[ExpressionUse, ...] = ()

    def transitions(self) -> Iterator[TransitionDefinition]:
        """Every edge of the saga, `any:` edges once (source None)."""
        for state in self.states.values():
            yield from state.transitions()
        for options in self.any_on.values():
            yield from options


def build(model: SagaFile, doc: Document, report: Report, *, digest: str) -> SagaDefinition:
    """Compiles the expressions of a validated file; problems go to `report`."""
    return _Builder(doc, report).saga(model, digest)


class _Builder:
    def __init__(self, doc: Document, report: Report) -> None:
        self.doc = doc
        self.report = report
        self.uses: list[ExpressionUse] = []
        self.refused = False

    def saga(self, model: SagaFile, digest: str) -> SagaDefinition:
        start = model.start
        states = {name: self.state(name, s) for name, s in model.states.items()}
        any_on = self.on(None, model.any_.on, ("any", "on")) if model.any_ is not None else {}
        return SagaDefinition(
            name=model.saga,
            version=model.version,
            description=model.description,
            file=self.report.file,
            digest=digest,
            start_event=start.on,
            start_assignments=self.assignments(start.set_, ("start", "set"), start.on),
            start_at=self.doc.at(("start", "on")),
            correlate=model.correlate,
            correlate_at=self.doc.at(("correlate",)),
            initial=model.initial,
            initial_at=self.doc.at(("initial",)),
            states=states,
            states_at=self.doc.key_at(("states",)),
            any_on=any_on,
            expressions=tuple(self.uses),
        )

    def state(self, name: str, model: State) -> StateDefinition:
        path = ("states", name)
        retry = RetryPolicy(model.retry.attempts, model.retry.after) if model.retry else None
        keys = {
            key: self.doc.key_at((*path, key))
            for key in ("send", "publish", "on", "retry", "timeout", "compensate", "end")
            if (*path, key) in self.doc.keys
        }
        return StateDefinition(
            name=name,
            description=model.description,
            entry=self.actions(model.send, model.publish, path),
            on=self.on(name, model.on, (*path, "on")),
            retry=retry,
            timeout=self.timeout(name, model.timeout, (*path, "timeout")),
            compensation=self.compensation(model.compensate, retry, (*path, "compensate")),
            end=model.end,
            at=self.doc.key_at(path),
            keys=keys,
        )

    def on(
        self, source: str | None, model: Mapping[str, list[Transition]], path: Loc
    ) -> dict[str, tuple[TransitionDefinition, ...]]:
        return {
            event: tuple(
                self.transition(source, event, t, (*path, event, i)) for i, t in enumerate(options)
            )
            for event, options in model.items()
        }

    def transition(
        self, source: str | None, event: str, model: Transition, path: Loc
    ) -> TransitionDefinition:
        guard = None
        if model.if_ is not None:
            guard = self.guard(model.if_, (*path, "if"), event)
        return self.move(source, event, guard, model, path, self.doc.at(path))

    def timeout(self, source: str, model: Timeout | None, path: Loc) -> TimeoutDefinition | None:
        if model is None:
            return None
        transition = self.move(source, None, None, model, path, self.doc.key_at(path))
        return TimeoutDefinition(model.after, transition)

    def move(
        self,
        source: str | None,
        event: str | None,
        guard: Expression | None,
        model: Transition | Timeout,
        path: Loc,
        at: Position,
    ) -> TransitionDefinition:
        """The transition `model` (its set, goto and compensate) out of `source` on `event`
        (None: the timeout), written at `at`."""
        return TransitionDefinition(
            source=source,
            event=event,
            guard=guard,
            assignments=self.assignments(model.set_, (*path, "set"), event),
            goto=model.goto,
            compensate=model.compensate,
            at=at,
            goto_at=self.doc.at((*path, "goto")),
            compensate_at=self.doc.key_at((*path, "compensate")),
        )

    def compensation(
        self, model: Compensation | None, state_retry: RetryPolicy | None, path: Loc
    ) -> CompensationDefinition | None:
        if model is None:
            return None
        if model.retry is not None:
            retry = RetryPolicy(model.retry.attempts, model.retry.after)
        else:
            retry = state_retry or DEFAULT_COMPENSATION_RETRY
        actions = self.actions(model.send, model.publish, path)
        if not actions:
            self.report.error(
                self.doc.key_at(path),
                "compensate: needs a `send` or `publish` that undoes the state",
            )
        return CompensationDefinition(
            actions=actions,
            until=model.until,
            retry=retry,
            at=self.doc.key_at(path),
            until_at=self.doc.at((*path, "until")),
        )

    def actions(self, sends: list[Send], publishes: list[Publish], path: Loc) -> tuple[Action, ...]:
        commands = [
            self.action("command", send.command, send.with_, (*path, "send", i))
            for i, send in enumerate(sends)
        ]
        events = [
            self.action("event", publish.event, publish.with_, (*path, "publish", i))
            for i, publish in enumerate(publishes)
        ]
        return (*commands, *events)

    def action(
        self, kind: Literal["command", "event"], type_: str, with_: Mapping[str, Any], at: Loc
    ) -> Action:
        """The send (`kind` "command") or publish ("event") of `type_` written at `at`."""
        return Action(
            kind,
            type_,
            self.payload(with_, (*at, "with")),
            {key: self.doc.key_at((*at, "with", key)) for key in with_},
            self.doc.at((*at, kind)),
        )

    def payload(self, values: Mapping[str, Any], path: Loc) -> Template:
        return self.value(dict(values), path, None)

    def assignments(
        self, values: Mapping[str, Any], path: Loc, event: str | None
    ) -> tuple[Assignment, ...]:
        return tuple(
            Assignment(
                name, self.value(value, (*path, name), event), self.doc.key_at((*path, name))
            )
            for name, value in values.items()
        )

    def guard(self, source: str, path: Loc, event: str) -> Expression | None:
        text = source.strip()
        skip = len(source) - len(source.lstrip())
        if text.startswith("${") and text.endswith("}"):
            text = text[2:-1]
            skip += 2
        if self.too_many(path, 1):
            return None
        locate = self.doc.locator(path)
        try:
            expression = compile_expression(text, lambda o: locate(skip + o))
        except ExpressionError as exc:
            self.report.error(locate(skip + exc.offset), exc.message)
            return None
        self.use(expression, event)
        return expression

    def value(self, value: Any, path: Loc, event: str | None) -> Template:
        if isinstance(value, str):
            if "${" not in value:
                return LiteralValue(value.replace("$${", "${"))
            if self.too_many(path, value.count("${")):
                return LiteralValue(value)
            locate = self.doc.locator(path)
            try:
                template = compile_text(value, locate)
            except ExpressionError as exc:
                self.report.error(locate(exc.offset), exc.message)
                return LiteralValue(value)
            for expression in template.expressions():
                self.use(expression, event)
            return template
        if isinstance(value, dict):
            items = tuple((str(k), self.value(v, (*path, k), event)) for k, v in value.items())
            if all(isinstance(v, LiteralValue) for _, v in items):
                return LiteralValue(value)
            return MappingTemplate(items)
        if isinstance(value, list):
            elements = tuple(self.value(v, (*path, i), event) for i, v in enumerate(value))
            if all(isinstance(v, LiteralValue) for v in elements):
                return LiteralValue(value)
            return ListTemplate(elements)
        return LiteralValue(value)

    def too_many(self, path: Loc, more: int) -> bool:
        if len(self.uses) + more <= MAX_EXPRESSIONS:
            return False
        if not self.refused:
            self.refused = True
            self.report.error(
                self.doc.at(path), f"more than {MAX_EXPRESSIONS:,} expressions; split the saga"
            )
        return True

    def use(self, expression: Expression, event: str | None) -> None:
        if event is None:
            for reference in expression.references:
                if reference.root == "event":
                    self.report.error(
                        reference.at,
                        "`event` is only available in `start` and in `on` transitions; "
                        "copy what you need into saga data with `set` there",
                    )
                    break
        self.uses.append(ExpressionUse(expression, event))
