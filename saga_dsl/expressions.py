"""Expressions: CEL compiled once at load time, and value templates built from them.

A value written `${ ... }` is a CEL expression; `if:` is always one. The CEL library
(`common-expression-language`) parses and evaluates; this module only adds what
sagas need on top:

- the roots an expression may name: `event` (the incoming payload), `saga` (the
  instance data) and `now` (a timestamp), and the CEL standard functions;
- the fields it reads (`event.x`, `saga.x`) for the static checks, found by a lexical
  scan of the source with string literals blanked out (the `x["y"]` form is not seen);
- a refusal of any `__name__`: expressions see data, never Python objects (the CEL
  library gives no way to reach them; the check makes the intent explicit);
- conversion of results to JSON values, so saga data and payloads can be stored;
- a cost budget: the macros' work is bounded from the data's sizes before an expression
  runs, and one over the budget is refused (`OverBudget`; saga_dsl/macros.py).

A value that is exactly `${ expr }` takes the expression's type; text around one or
more `${ }` makes a string (`"order ${ saga.order_id } failed"`). `$${` writes a
literal `${`.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import cel

from saga_dsl.diagnostics import START, Position, suggest
from saga_dsl.field_reads import NOT_READ, FieldPath, field_path, read_field
from saga_dsl.macros import (
    MAX_COST,
    Macro,
    Read,
    bound_variables,
    cost,
    linearity_problem,
    macros_of,
)

ROOTS = frozenset({"event", "saga", "now"})
"""The names an expression can start from."""

FUNCTIONS = frozenset(
    {
        "size", "contains", "startsWith", "endsWith", "matches",
        "int", "uint", "double", "string", "bytes", "timestamp", "duration", "dyn", "type",
        "has", "all", "exists", "exists_one", "map", "filter",
        "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek",
        "getDayOfYear", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
"""The CEL standard functions and macros the library evaluates natively."""

MAX_SOURCE = 2_000
"""Longest expression accepted, in characters."""

MAX_RESULT_SIZE = 1 << 20
"""Largest value an expression may produce: characters of a string (bytes of a
bytes value) plus one per element of a list or map, all levels counted. Saga data is
built from expression results, so it cannot grow past this by repetition."""

Locator = Callable[[int], Position]
"""Maps an offset in an expression's source to its position in the file."""

_REFERENCE = re.compile(r"(?<![\w.])(event|saga|now)\b(?:\s*\.\s*([A-Za-z_]\w*))?")
_DUNDER = re.compile(r"(?<![\w])(__\w*)")
_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*")
_SHORT_EXPECTING = 4


class ExpressionError(Exception):
    """An expression that cannot be compiled; `offset` points into its source."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class EvaluationError(Exception):
    """An expression failed at run time (missing field, wrong type, ...)."""


class OverBudget(Exception):
    """An expression would cost more than `MAX_COST` on the data it was given: it is
    refused before it runs. Not an `EvaluationError`: the input that brought the data
    is at fault, not the instance, so a message goes the retry and dead-letter way."""


@dataclass(frozen=True)
class Reference:
    """A read of `root.name` (`name` is None for the bare root) at a file position."""

    root: str
    name: str | None
    at: Position


class Scope:
    """What expressions read: the event payload, the saga data and now.

    Handing data to CEL costs more than evaluating a guard, so each combination of
    roots an expression reads (`event`, `saga`, `now`) is converted once per scope.
    """

    def __init__(self, event: Mapping[str, Any], saga: Mapping[str, Any], now: datetime) -> None:
        self.event = event
        self.saga = saga
        self.now = now
        self._converted: dict[frozenset[str], Any] = {}
        self._sizes: dict[Read, tuple[int, int]] = {}

    def count(self, read: Read) -> int:
        """Elements of the value `read` names (1 for a scalar, 0 when missing)."""
        return self._measured(read)[0]

    def size(self, read: Read) -> int:
        """Characters and elements of the value `read` names, all levels."""
        return self._measured(read)[1]

    def _measured(self, read: Read) -> tuple[int, int]:
        measured = self._sizes.get(read)
        if measured is None:
            root, name = read
            value: Any = {"event": self.event, "saga": self.saga, "now": self.now}[root]
            if name is not None:
                value = value.get(name) if isinstance(value, Mapping) else None
            elements = len(value) if isinstance(value, (str, bytes, list, dict)) else 1
            measured = self._sizes[read] = (0, 0) if value is None else (elements, _size(value))
        return measured

    def for_cel(self, roots: frozenset[str]) -> Any:
        converted = self._converted.get(roots)
        if converted is None:
            values = {"event": self.event, "saga": self.saga, "now": self.now}
            try:
                converted = cel.Context({name: values[name] for name in roots})
            except Exception as exc:  # data CEL cannot hold (it came from JSON, so rare)
                raise EvaluationError(f"data cannot be handed to CEL: {exc}") from None
            self._converted[roots] = converted
        return converted


@dataclass(frozen=True, eq=False)
class Expression:
    """A compiled CEL expression and what it reads."""

    source: str
    program: Any = field(repr=False)
    references: tuple[Reference, ...]
    at: Position = START

    roots: frozenset[str] = frozenset()
    macros: tuple[Macro, ...] = ()
    path: FieldPath | None = None  # one field read (`saga.x`): see saga_dsl/field_reads.py

    def evaluate(self, scope: Scope) -> Any:
        """The JSON value of the expression; raises `EvaluationError`, or `OverBudget`
        (before running it) when its macros would cost more than `MAX_COST`."""
        if self.path is not None:
            root, name = self.path
            value = read_field(scope.event if root == "event" else scope.saga, name)
            if value is not NOT_READ:
                return value
        if self.macros:
            work = cost(self.macros, scope.count, scope.size)
            if work > MAX_COST:
                raise OverBudget(
                    f"{self.source.strip()!r} would cost {work:,} units on this data, over"
                    f" the budget of {MAX_COST:,} (the work of map and filter grows with"
                    " the square of the list's length, and with the data their body reads)"
                )
        try:
            result = self.program.execute(scope.for_cel(self.roots))
        except EvaluationError:
            raise
        except Exception as exc:  # the CEL library raises many kinds; all mean "cannot"
            raise EvaluationError(f"{self.source.strip()!r}: {_explain(exc)}") from None
        return to_json_value(result, self.source)


def compile_expression(source: str, locate: Locator | None = None) -> Expression:
    """Compiles CEL `source`; raises `ExpressionError` with the offset of the problem."""
    where = locate or (lambda _offset: START)
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression is longer than {MAX_SOURCE} characters")
    if not source.strip():
        raise ExpressionError("empty expression")
    code = blank_strings(source)
    dunder = _DUNDER.search(code)
    if dunder is not None:
        raise ExpressionError(
            f"{dunder.group(1)!r} is not allowed: expressions read the data of event, saga "
            "and now, never Python internals",
            dunder.start(1),
        )
    try:
        program = cel.compile(source)
    except Exception as exc:  # the CEL library reports syntax errors as ValueError and others
        raise _syntax_error(str(exc), source) from None
    macros = macros_of(code)
    problem = linearity_problem(code, macros)
    if problem is not None:
        raise ExpressionError(*problem)
    bound = bound_variables(code)
    for name in sorted(set(program.variables()) - ROOTS - bound):
        offset = _find_word(code, name)
        raise ExpressionError(
            f"unknown name {name!r} (expressions start from event, saga or now)"
            f"{suggest(name, ROOTS)}",
            offset,
        )
    for name in program.functions():
        if re.fullmatch(r"[A-Za-z_]\w*", name) and name not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function {name!r}{suggest(name, FUNCTIONS)}", _find_word(code, name)
            )
    references = tuple(
        Reference(m.group(1), m.group(2), where(m.start()))
        for m in _REFERENCE.finditer(code)
        if m.group(1) not in bound
    )
    roots = frozenset(program.variables()) & ROOTS
    return Expression(source, program, references, where(0), roots, macros, field_path(source))


class Template:
    """A value with expressions in it; `render` gives the JSON value."""

    def render(self, scope: Scope) -> Any:
        raise NotImplementedError

    def expressions(self) -> Iterator[Expression]:
        return iter(())


@dataclass(frozen=True)
class Literal(Template):
    value: Any

    def render(self, scope: Scope) -> Any:
        return self.value


@dataclass(frozen=True)
class Whole(Template):
    """A value that is one expression: `${ saga.amount }` keeps its type."""

    expression: Expression

    def render(self, scope: Scope) -> Any:
        return self.expression.evaluate(scope)

    def expressions(self) -> Iterator[Expression]:
        yield self.expression


@dataclass(frozen=True)
class Text(Template):
    """A string with expressions inside: `"order ${ saga.order_id } failed"`."""

    parts: tuple[str | Expression, ...]

    def render(self, scope: Scope) -> Any:
        out = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _as_text(part.evaluate(scope)))
        return "".join(out)

    def expressions(self) -> Iterator[Expression]:
        for part in self.parts:
            if isinstance(part, Expression):
                yield part


@dataclass(frozen=True)
class MappingTemplate(Template):
    items: tuple[tuple[str, Template], ...]

    def render(self, scope: Scope) -> Any:
        return {key: value.render(scope) for key, value in self.items}

    def expressions(self) -> Iterator[Expression]:
        for _key, value in self.items:
            yield from value.expressions()


@dataclass(frozen=True)
class ListTemplate(Template):
    items: tuple[Template, ...]

    def render(self, scope: Scope) -> Any:
        return [value.render(scope) for value in self.items]

    def expressions(self) -> Iterator[Expression]:
        for value in self.items:
            yield from value.expressions()


def compile_text(text: str, locate: Locator | None = None) -> Template:
    """Compiles one string value: a literal, one `${ }` or text with `${ }` inside."""
    where = locate or (lambda _offset: START)
    parts: list[str | Expression] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end is None:
                raise ExpressionError("unterminated ${ ... }: missing the closing }", i)
            source = text[i + 2 : end]
            start = i + 2
            try:
                expression = compile_expression(source, _shifted(where, start))
            except ExpressionError as exc:
                raise ExpressionError(exc.message, start + exc.offset) from None
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(expression)
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    if not any(isinstance(p, Expression) for p in parts):
        return Literal(text.replace("$${", "${"))
    if len(parts) == 1 or (len(parts) <= 3 and _only_space_around(parts)):
        expression = next(p for p in parts if isinstance(p, Expression))
        return Whole(expression)
    return Text(tuple(parts))


def _shifted(locate: Locator, by: int) -> Locator:
    return lambda offset: locate(by + offset)


def blank_strings(source: str) -> str:
    """`source` with the inside of every CEL string literal replaced by spaces.

    Offsets are kept, so what a scan finds in the result is where it is in `source`.
    """
    out = list(source)
    i = 0
    while i < len(source):
        ch = source[i]
        if ch in "'\"":
            raw = i > 0 and source[i - 1] in "rR"
            quote = source[i : i + 3] if source[i : i + 3] in ("'''", '"""') else ch
            j = i + len(quote)
            while j < len(source) and not source.startswith(quote, j):
                if source[j] == "\\" and not raw:
                    out[j] = " "
                    j += 1
                if j < len(source):
                    out[j] = " "
                j += 1
            i = j + len(quote)
        else:
            i += 1
    return "".join(out)


def to_json_value(value: Any, source: str = "") -> Any:
    """A CEL result as JSON data: timestamps become ISO text, durations `"1.5s"`;
    raises `EvaluationError` for a result bigger than `MAX_RESULT_SIZE`."""
    if _size(value) > MAX_RESULT_SIZE:
        raise EvaluationError(
            f"{source.strip()!r} gave a value bigger than {MAX_RESULT_SIZE} characters"
            " and elements"
        )
    return _json_value(value, source)


def _size(value: Any) -> int:
    """Characters plus elements in `value`, counted without recursion, stopping early."""
    total = 0
    stack = [value]
    while stack and total <= MAX_RESULT_SIZE:
        node = stack.pop()
        if isinstance(node, (str, bytes)):
            total += len(node)
        elif isinstance(node, (list, tuple)):
            total += len(node)
            stack.extend(node)
        elif isinstance(node, dict):
            total += len(node)
            stack.extend(node.keys())
            stack.extend(node.values())
        else:
            total += 1
    return total


def _json_value(value: Any, source: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise EvaluationError(f"{source.strip()!r} gave {value}, which is not a JSON number")
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [_json_value(v, source) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v, source) for k, v in value.items()}
    if isinstance(value, cel.OptionalValue):
        return _json_value(value.value(), source) if value.has_value() else None
    raise EvaluationError(f"{source.strip()!r} gave a {type(value).__name__}, not JSON data")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _only_space_around(parts: list[str | Expression]) -> bool:
    return sum(isinstance(p, Expression) for p in parts) == 1 and all(
        isinstance(p, Expression) or not p.strip() for p in parts
    )


def _closing_brace(text: str, start: int) -> int | None:
    """Index of the `}` that closes a `${` whose body starts at `start`.

    Braces inside CEL string literals do not count.
    """
    depth = 0
    quote = ""
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] in ("'''", '"""') else ch
            i += len(quote) - 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return None


def _find_word(code: str, word: str) -> int:
    found = re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", code)
    return found.start() if found else 0


def _syntax_error(message: str, source: str) -> ExpressionError:
    found = _CEL_POSITION.search(message)
    if found is None:
        first = message.strip().splitlines()[0] if message.strip() else "syntax error"
        return ExpressionError(f"CEL: {first}")
    line, col = int(found.group(1)), int(found.group(2))
    detail = message[found.end() :].splitlines()[0]
    expecting = detail.find(" expecting {")
    if expecting >= 0 and detail.count(",", expecting) >= _SHORT_EXPECTING:
        detail = detail[:expecting]
    lines = source.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + col - 1
    if "mismatched input '<EOF>'" in detail:
        detail = "Syntax error: the expression ends too early"
    return ExpressionError(f"CEL {detail[0].lower()}{detail[1:]}", max(offset, 0))


def _explain(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no field {exc.args[0]!r}" if exc.args else "no such field"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0]
