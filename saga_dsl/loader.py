"""Safe YAML reading that remembers where every key and value came from.

PyYAML's loaders lose positions, keep the last of two duplicate keys without a word,
expand aliases without limit and read `on:` as the boolean `True` (YAML 1.1). This
module builds plain data (dict, list, str, int, float, bool, None) from libyaml's event
stream instead, iteratively, so that:

- every node's position is kept (`Document.at`, `Document.key_at`, `Document.point`);
- duplicate keys, anchors/aliases and explicit tags are errors (no alias bombs, no
  Python objects);
- nesting depth and file size are bounded, so no input can exhaust the stack or memory;
- plain scalars follow the YAML 1.2 core schema: only `true`/`false` are booleans, so
  `on`, `yes` and `no` stay strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from saga_dsl.diagnostics import START, Position, Report

MAX_SOURCE_BYTES = 524_288
"""Largest saga file accepted (512 KiB, about 2,000 richly commented states); a bigger
one is refused before it is parsed, so that no file takes more than a second."""

MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences accepted; a saga needs about eight."""

Loc = tuple[str | int, ...]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


class YamlProblem(Exception):
    """A reason to stop reading: the file cannot be turned into data."""

    def __init__(self, at: Position, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


class ScalarSource(NamedTuple):
    """Where a scalar sits, and its raw text when it is on one line."""

    at: Position
    raw: str | None
    style: str | None


@dataclass
class Document:
    """Plain data read from YAML, with the position of every node and key."""

    data: Any
    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)
    scalars: dict[Loc, ScalarSource] = field(default_factory=dict)

    def resolve(self, loc: Sequence[Any]) -> Loc:
        """The longest real path in the data that `loc` names.

        Parts that do not name a key or index (a pydantic union branch, a list index
        added for a value written as a single mapping) are skipped.
        """
        path: list[str | int] = []
        node = self.data
        for part in loc:
            if _has(node, part):
                node = node[part]
                path.append(part)
        return tuple(path)

    def at(self, loc: Sequence[Any]) -> Position:
        """Position of the value at `loc` (or of the nearest enclosing node)."""
        path = self.resolve(loc)
        while path and path not in self.values:
            path = path[:-1]
        return self.values.get(path, START)

    def key_at(self, loc: Sequence[Any]) -> Position:
        """Position of the key that holds the value at `loc`; of the value if none."""
        path = self.resolve(loc)
        return self.keys.get(path) or self.at(path)

    def point(self, loc: Sequence[Any], index: int) -> Position:
        """Position of character `index` of the string at `loc`, as exactly as known.

        Exact for a one-line plain or quoted scalar without escapes; otherwise the
        position of the scalar itself.
        """
        path = self.resolve(loc)
        source = self.scalars.get(path)
        value = _get(self.data, path)
        if source is None or source.raw is None or not isinstance(value, str):
            return self.at(path)
        if source.style is None and source.raw == value:
            return Position(source.at.line, source.at.col + index)
        if source.style in ("'", '"') and source.raw[1:-1] == value:
            return Position(source.at.line, source.at.col + 1 + index)
        return source.at


def read_source(raw: bytes, report: Report) -> str | None:
    """Decodes a saga file, refusing oversized and non-UTF-8 input."""
    if _too_large(len(raw), report):
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = _position_of(raw[: exc.start].decode("utf-8", "replace"), exc.start)
        report.error(at, f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); is it binary?")
        return None


def parse(text: str, report: Report) -> Document | None:
    """Reads one YAML document into a `Document`; reports and returns None on failure."""
    if _too_large(len(text.encode("utf-8")), report):
        return None
    try:
        return _Builder(text).build()
    except YamlProblem as problem:
        report.error(problem.at, problem.message)
    except yaml.MarkedYAMLError as exc:
        at, message = _explain_syntax_error(text, exc)
        report.error(at, message)
    except yaml.reader.ReaderError as exc:
        report.error(
            _position_of(text, exc.position),
            f"YAML: {exc.reason} (character #x{exc.character:04x})",
        )
    except yaml.YAMLError as exc:
        report.error(START, f"YAML: {exc}")
    return None


class _Builder:
    """Turns the event stream into data, one event at a time (no recursion)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.doc = Document(data=None)
        self.stack: list[tuple[Loc, list[Any] | dict[str, Any]]] = []
        self.pending_key: list[str | None] = []
        self.documents = 0

    def build(self) -> Document:
        for event in yaml.parse(self.text, Loader=_LOADER):
            self._on(event)
        return self.doc

    def _on(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise YamlProblem(
                    _mark(event), "a saga file holds one YAML document; found a second `---`"
                )
            return
        if isinstance(event, yaml.AliasEvent):
            raise YamlProblem(
                _mark(event), "aliases (*name) are not allowed in saga files; write the value out"
            )
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self.stack.pop()
            self.pending_key.pop()
            return
        if not isinstance(event, yaml.NodeEvent):
            return
        if event.anchor is not None:
            raise YamlProblem(
                _mark(event),
                f"anchors (&{event.anchor}) are not allowed in saga files; write the value out",
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in _PLAIN_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise YamlProblem(
                _mark(event), f"YAML tag {shown!r} is not allowed; saga files hold plain data only"
            )
        if isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.MappingStartEvent):
            self._open(event, {})
        elif isinstance(event, yaml.SequenceStartEvent):
            self._open(event, [])

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        if self.stack and isinstance(self.stack[-1][1], dict) and self.pending_key[-1] is None:
            self._key(event)
            return
        plain = not event.style and event.tag != "tag:yaml.org,2002:str"
        value = _resolve_plain(event.value) if plain else event.value
        path = self._attach(event, value)
        start, end = event.start_mark, event.end_mark
        raw = None
        if start is not None and end is not None and start.line == end.line:
            raw = self.text[start.index : end.index]
        self.doc.scalars[path] = ScalarSource(_mark(event), raw, event.style or None)

    def _key(self, event: yaml.ScalarEvent) -> None:
        parent_path, container = self.stack[-1]
        assert isinstance(container, dict)
        key = event.value
        path = (*parent_path, key)
        if key in container:
            first = self.doc.keys[path]
            raise YamlProblem(
                _mark(event),
                f"duplicate key {key!r} (first defined at line {first.line}, column {first.col})",
            )
        self.doc.keys[path] = _mark(event)
        self.pending_key[-1] = key

    def _open(
        self, event: yaml.CollectionStartEvent, container: list[Any] | dict[str, Any]
    ) -> None:
        if self.stack and isinstance(self.stack[-1][1], dict) and self.pending_key[-1] is None:
            raise YamlProblem(
                _mark(event), "mapping keys must be plain names, not mappings or lists"
            )
        if len(self.stack) >= MAX_DEPTH:
            raise YamlProblem(_mark(event), f"nesting is deeper than {MAX_DEPTH} levels")
        path = self._attach(event, container)
        self.stack.append((path, container))
        self.pending_key.append(None)

    def _attach(self, event: yaml.NodeEvent, value: Any) -> Loc:
        if not self.stack:
            self.doc.data = value
            path: Loc = ()
        else:
            parent_path, container = self.stack[-1]
            if isinstance(container, dict):
                key = self.pending_key[-1]
                assert key is not None
                container[key] = value
                self.pending_key[-1] = None
                path = (*parent_path, key)
            else:
                path = (*parent_path, len(container))
                container.append(value)
        self.doc.values[path] = _mark(event)
        return path


def _too_large(size: int, report: Report) -> bool:
    if size <= MAX_SOURCE_BYTES:
        return False
    report.error(
        START,
        f"file is {size:,} bytes; a saga file may be at most {MAX_SOURCE_BYTES:,} bytes "
        "(split it into several sagas)",
    )
    return True


def _resolve_plain(value: str) -> Any:
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return int(value)
    if _INT_OCT.match(value):
        return int(value[2:], 8)
    if _INT_HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    return value


_UNQUOTED_EXPRESSION = re.compile(r"\$\{")


def _explain_syntax_error(text: str, exc: yaml.MarkedYAMLError) -> tuple[Position, str]:
    mark = exc.problem_mark or exc.context_mark
    at = Position(mark.line + 1, mark.column + 1) if mark is not None else START
    problem = exc.problem or "syntax error"
    message = f"YAML syntax: {problem}"
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        begun = exc.context_mark
        message += f" ({exc.context} at line {begun.line + 1}, column {begun.column + 1})"
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return at, "YAML syntax: a tab character here; indent with spaces, YAML does not allow tabs"
    flow_start = exc.context_mark if exc.context and "flow" in exc.context else None
    if flow_start is not None and mark is not None:
        found = _UNQUOTED_EXPRESSION.search(text, flow_start.index, mark.index + 1)
        if found is not None:
            return (
                _position_of(text, found.start()),
                "YAML syntax: an unquoted ${ ... } inside a {...} or [...] flow collection; "
                'quote the expression, e.g. {id: "${ saga.id }"}',
            )
    return at, message


def _mark(event: yaml.Event) -> Position:
    mark = event.start_mark
    return Position(mark.line + 1, mark.column + 1) if mark is not None else START


def _position_of(text: str, index: int) -> Position:
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return Position(line, col)


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return False


def _get(data: Any, path: Loc) -> Any:
    for part in path:
        data = data[part]
    return data
